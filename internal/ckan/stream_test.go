package ckan

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// reviseServer answers package_revise with body (status 200 unless given).
func reviseServer(t *testing.T, status int, body string) *Client {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json;charset=utf-8")
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}))
	t.Cleanup(srv.Close)
	c, err := New(srv.URL, "token", nil)
	if err != nil {
		t.Fatal(err)
	}
	c.MaxAttempts = 1
	return c
}

// resourceJSON is a resource as CKAN answers it.
func resourceJSON(id, name string) string {
	return fmt.Sprintf(`{"id": %q, "name": %q, "url": "https://b/%s", "size": 7, "hash": "sha256:00", "s3_key": "k/%s", "position": 0, "state": "active"}`, id, name, name, name)
}

// package_revise's answer holds every resource of the dataset; the dataset
// returned keeps only those the revision names, in the dataset's order: the
// updated and added ones by id, one added without an id by its place at the
// end. The envelope's members may come in any order.
func TestPackageReviseKeepsNamedResources(t *testing.T) {
	var rs []string
	for i := range 500 {
		rs = append(rs, resourceJSON(fmt.Sprintf("00000000-0000-4000-8000-%012d", i), fmt.Sprintf("r%d.csv", i)))
	}
	rs = append(rs, resourceJSON("11111111-0000-4000-8000-000000000000", "added.csv"), resourceJSON("99999999-0000-4000-8000-000000000000", "anon.csv"))
	pkg := `{"id": "dddddddd-0000-4000-8000-000000000000", "name": "ds", "title": "T", "tags": [{"name": "x"}], "organization": {"id": "o", "name": "org"}, "resources": [` + strings.Join(rs, ", ") + `], "private": "True"}`
	rev := Revision{Dataset: "dddddddd-0000-4000-8000-000000000000",
		Update: []ResourceFields{{ID: "00000000-0000-4000-8000-000000000007"}},
		Add:    []ResourceFields{{ID: "11111111-0000-4000-8000-000000000000", Name: "added.csv"}, {Name: "anon.csv"}}}
	for name, body := range map[string]string{
		"success first": `{"help": "https://x/api/3/action/help_show?name=package_revise", "success": true, "result": {"package": ` + pkg + `}}`,
		"result first":  `{"result": {"other": [1, {"a": null}], "package": ` + pkg + `}, "help": "h", "success": true}`,
	} {
		t.Run(name, func(t *testing.T) {
			d, err := reviseServer(t, 200, body).PackageRevise(context.Background(), rev)
			if err != nil {
				t.Fatal(err)
			}
			if d.Name != "ds" || d.Title != "T" || !d.Private || len(d.Tags) != 1 || d.Organization == nil || d.Organization.Name != "org" {
				t.Errorf("dataset fields: %+v", d)
			}
			var got []string
			for _, r := range d.Resources {
				got = append(got, r.Name)
			}
			if want := "r7.csv added.csv anon.csv"; strings.Join(got, " ") != want {
				t.Fatalf("resources %v, want %s", got, want)
			}
			if r := d.Resources[1]; r.URL != "https://b/added.csv" || r.Size == nil || *r.Size != 7 || r.S3Key != "k/added.csv" {
				t.Errorf("added resource read as %+v", r)
			}
		})
	}
}

// Answers that are not a successful envelope read as they did when read
// whole: CKAN's error, a bare string, a body cut short, no success member.
func TestPackageReviseStreamErrors(t *testing.T) {
	rev := Revision{Dataset: "ds", Add: []ResourceFields{{ID: "a"}}}
	for _, tc := range []struct {
		name, body string
		check      func(error) bool
	}{
		{"success false", `{"success": false, "result": null, "error": {"__type": "Validation Error", "message": "no"}}`,
			func(err error) bool { var ae *APIError; return errors.As(err, &ae) && ae.Type == "Validation Error" }},
		{"error before success", `{"error": {"__type": "Authorization Error", "message": "no"}, "success": false}`,
			func(err error) bool { var ae *APIError; return errors.As(err, &ae) && ae.Type == "Authorization Error" }},
		{"bare string", `"Bad request - Action name not known: package_revise"`,
			func(err error) bool {
				var ae *APIError
				return errors.As(err, &ae) && strings.Contains(ae.Message, "not known")
			}},
		{"null result", `{"success": true, "result": null}`,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "unexpected result") }},
		{"cut short", `{"success": true, "result": {"package": {"id": "x", "resources": [{"id": "a"`,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "unexpected result") }},
		{"no success", `{"help": "h", "result": {"package": {"id": "x"}}}`,
			func(err error) bool { var re *ResponseError; return errors.As(err, &re) }},
		{"no package", `{"success": true, "result": {"id": "x"}}`,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), `no "package"`) }},
		{"resources not a list", `{"success": true, "result": {"package": {"id": "x", "resources": {"a": 1}}}}`,
			func(err error) bool { return err != nil && strings.Contains(err.Error(), "not a list") }},
		{"html", `<html>proxy</html>`,
			func(err error) bool {
				var re *ResponseError
				return errors.As(err, &re) && strings.Contains(re.Snippet, "proxy")
			}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := reviseServer(t, 200, tc.body).PackageRevise(context.Background(), rev)
			if !tc.check(err) {
				t.Errorf("err = %v (%T)", err, err)
			}
		})
	}
}

// TestPackageShowStreamed: package_show's answer is read as it streams; every
// resource that is an object is kept, in order, with its typed fields (the
// dict is not kept), and the dataset's own fields are read as before, with
// the envelope's members in any order.
func TestPackageShowStreamed(t *testing.T) {
	var rs []string
	for i := range 500 {
		rs = append(rs, resourceJSON(fmt.Sprintf("id-%03d", i), fmt.Sprintf("f%03d.csv", i)))
	}
	rs = append(rs[:3], append([]string{"null", `"odd"`}, rs[3:]...)...)
	dataset := `{"id": "d1", "name": "ds", "title": "T", "private": "True", "tags": [{"name": "x"}], "resources": [` + strings.Join(rs, ", ") + `]}`
	for name, body := range map[string]string{
		"success first": `{"help": "h", "success": true, "result": ` + dataset + `}`,
		"result first":  `{"result": ` + dataset + `, "help": "h", "success": true}`,
	} {
		t.Run(name, func(t *testing.T) {
			d, err := reviseServer(t, 200, body).PackageShow(context.Background(), "ds")
			if err != nil {
				t.Fatal(err)
			}
			if d.ID != "d1" || d.Title != "T" || !d.Private || len(d.Tags) != 1 || len(d.Resources) != 500 {
				t.Fatalf("dataset %s %q private %v tags %v, %d resources", d.ID, d.Title, d.Private, d.Tags, len(d.Resources))
			}
			for i, r := range d.Resources {
				if r.ID != fmt.Sprintf("id-%03d", i) || r.S3Key != fmt.Sprintf("k/f%03d.csv", i) || r.Size == nil || *r.Size != 7 {
					t.Fatalf("resource %d: %+v", i, r)
				}
			}
			if f := d.Resources[0].Fields(); f != nil {
				t.Errorf("a resource of package_show kept its dict: %v", f)
			}
		})
	}
	empty := `{"success": true, "result": {"id": "d2", "name": "e", "resources": []}}`
	if d, err := reviseServer(t, 200, empty).PackageShow(context.Background(), "e"); err != nil || d.Resources == nil || len(d.Resources) != 0 {
		t.Errorf("empty dataset: %v, %#v", err, d)
	}
}

package scope

import (
	"encoding/json"
	"regexp"
	"strings"
	"testing"
)

func TestSessionPolicyConfinesToPrefix(t *testing.T) {
	p, err := SessionPolicy("portal", DatasetPrefix("/uploads/", "org-1", "ds-1"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Statement []struct {
			Effect   string
			Action   []string
			Resource []string
		}
	}
	if err := json.Unmarshal([]byte(p), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Statement) != 1 {
		t.Fatalf("statements %+v", doc.Statement)
	}
	st := doc.Statement[0]
	if st.Effect != "Allow" || len(st.Resource) != 1 || st.Resource[0] != "arn:aws:s3:::portal/uploads/org-1/ds-1/*" {
		t.Errorf("statement %+v", st)
	}
	for _, a := range st.Action {
		if strings.Contains(a, "Delete") || strings.Contains(a, "ListBucket") || strings.Contains(a, "*") {
			t.Errorf("grants %s", a)
		}
	}
	for _, bad := range []string{"", "no-slash", "a/*/"} {
		if _, err := SessionPolicy("b", bad); err == nil {
			t.Errorf("prefix %q accepted", bad)
		}
	}
}

func TestSessionName(t *testing.T) {
	valid := regexp.MustCompile(`^[\w+=,.@-]{2,64}$`)
	for _, u := range []string{"uploader", "jane doe/ä", strings.Repeat("x", 100)} {
		n := SessionName(u, "data.example.org:8443")
		if !valid.MatchString(n) {
			t.Errorf("SessionName(%q) = %q", u, n)
		}
	}
	if n := SessionName("uploader", "data.example.org"); n != "ckanup.uploader@data.example.org" {
		t.Errorf("got %q", n)
	}
}

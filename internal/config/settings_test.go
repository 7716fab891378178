package config

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestResolvePrecedence(t *testing.T) {
	profile := StoredSettings{Bucket: "from-profile", PartSize: "16MiB", Region: "eu-west-1", Concurrency: "8", PathStyle: "false"}
	env := map[string]string{}
	tests := []struct {
		name       string
		flags      map[Key]string
		env        map[string]string
		profile    StoredSettings
		key        Key
		want, from string
	}{
		{"default when nothing sets it", nil, nil, StoredSettings{}, PartSize, "5MiB", "default"},
		{"no default: empty", nil, nil, StoredSettings{}, Bucket, "", "default"},
		{"profile over default", nil, nil, profile, PartSize, "16MiB", "profile ci"},
		{"env over profile", nil, map[string]string{"CKANUP_PART_SIZE": "32MiB"}, profile, PartSize, "32MiB", "CKANUP_PART_SIZE"},
		{"flag over env", map[Key]string{PartSize: "64MiB"}, map[string]string{"CKANUP_PART_SIZE": "32MiB"}, profile, PartSize, "64MiB", "--part-size"},
		{"AWS name for region", nil, map[string]string{"AWS_REGION": "us-west-2"}, profile, Region, "us-west-2", "AWS_REGION"},
		{"AWS_REGION over AWS_DEFAULT_REGION", nil, map[string]string{"AWS_REGION": "us-west-2", "AWS_DEFAULT_REGION": "ap-south-1"}, profile, Region, "us-west-2", "AWS_REGION"},
		{"AWS_DEFAULT_REGION over profile", nil, map[string]string{"AWS_DEFAULT_REGION": "ap-south-1"}, profile, Region, "ap-south-1", "AWS_DEFAULT_REGION"},
		{"S3 endpoint over the general one", nil, map[string]string{"AWS_ENDPOINT_URL": "http://a:1", "AWS_ENDPOINT_URL_S3": "http://s3:2"}, profile, EndpointURL, "http://s3:2", "AWS_ENDPOINT_URL_S3"},
		{"general endpoint", nil, map[string]string{"AWS_ENDPOINT_URL": "http://a:1"}, profile, EndpointURL, "http://a:1", "AWS_ENDPOINT_URL"},
		{"concurrency from env", nil, map[string]string{"CKANUP_CONCURRENCY": "12"}, profile, Concurrency, "12", "CKANUP_CONCURRENCY"},
		{"concurrency default", nil, nil, StoredSettings{}, Concurrency, "4", "default"},
		{"bucket from env", nil, map[string]string{"CKANUP_BUCKET": "b-env"}, profile, Bucket, "b-env", "CKANUP_BUCKET"},
		{"flag set to empty wins", map[Key]string{KeyPrefix: ""}, map[string]string{"CKANUP_KEY_PREFIX": "p/"}, profile, KeyPrefix, "", "--key-prefix"},
		{"public URL base from env", nil, map[string]string{"CKANUP_PUBLIC_URL_BASE": "https://cdn.example.org"}, profile, PublicURLBase, "https://cdn.example.org", "CKANUP_PUBLIC_URL_BASE"},
		{"path style from profile", nil, nil, profile, PathStyle, "false", "profile ci"},
		{"checksum default", nil, nil, profile, Checksum, "auto", "default"},
		{"checksum from env", nil, map[string]string{"CKANUP_CHECKSUM": "md5"}, StoredSettings{Checksum: "off"}, Checksum, "md5", "CKANUP_CHECKSUM"},
		{"checksum from profile", nil, nil, StoredSettings{Checksum: "crc64nvme"}, Checksum, "crc64nvme", "profile ci"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.env
			if e == nil {
				e = env
			}
			s, err := Resolve(Inputs{Flags: tt.flags, Getenv: func(k string) string { return e[k] }, Profile: tt.profile, ProfileName: "ci"})
			if err != nil {
				t.Fatal(err)
			}
			if got := s[tt.key]; got.Value != tt.want || got.Source != tt.from {
				t.Errorf("%s = %q from %q, want %q from %q", tt.key, got.Value, got.Source, tt.want, tt.from)
			}
		})
	}
}

func TestResolveRejectsBadValuesNamingTheSource(t *testing.T) {
	for _, tt := range []struct {
		env     map[string]string
		profile StoredSettings
		want    string
	}{
		{map[string]string{"CKANUP_CONCURRENCY": "lots"}, StoredSettings{}, "CKANUP_CONCURRENCY"},
		{map[string]string{"CKANUP_CONCURRENCY": "65"}, StoredSettings{}, "CKANUP_CONCURRENCY"},
		{map[string]string{"CKANUP_PART_SIZE": "1MiB"}, StoredSettings{}, "CKANUP_PART_SIZE"},
		{nil, StoredSettings{PathStyle: "maybe"}, "profile p"},
		{map[string]string{"CKANUP_CHECKSUM": "sha1"}, StoredSettings{}, "CKANUP_CHECKSUM"},
		{map[string]string{"CKANUP_PUBLIC_URL_BASE": "cdn.example.org"}, StoredSettings{}, "CKANUP_PUBLIC_URL_BASE"},
	} {
		_, err := Resolve(Inputs{Getenv: func(k string) string { return tt.env[k] }, Profile: tt.profile, ProfileName: "p"})
		if err == nil || !strings.Contains(err.Error(), "from "+tt.want) {
			t.Errorf("%v %+v: error %v, want one naming %s", tt.env, tt.profile, err, tt.want)
		}
	}
}

func TestSetAndStoreInProfile(t *testing.T) {
	dir := t.TempDir()
	f := &File{Profiles: map[string]Profile{}}
	p := Profile{CKANURL: "https://data.example.org", APIToken: "tok"}
	for k, v := range map[string]string{"bucket": "portal", "part-size": "16MiB", "CONCURRENCY": "8"} {
		s, ok := SpecOf(k)
		if !ok {
			t.Fatalf("SpecOf(%q) unknown", k)
		}
		if err := s.Set(&p.StoredSettings, v); err != nil {
			t.Fatal(err)
		}
	}
	if s, _ := SpecOf("part_size"); s.Set(&p.StoredSettings, "1KiB") == nil {
		t.Error("a 1 KiB part size was accepted")
	}
	if _, ok := SpecOf("colour"); ok {
		t.Error("unknown key accepted")
	}
	f.Profiles["default"] = p
	if _, err := Save(dir, f); err != nil {
		t.Fatal(err)
	}
	g, err := Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := g.Profiles["default"]
	if got.Bucket != "portal" || got.PartSize != "16MiB" || got.Concurrency != "8" || got.APIToken != "tok" {
		t.Errorf("after save and load: %+v", got)
	}
	// The settings sit beside ckan_url in the file, as aws configure keeps them.
	var raw map[string]map[string]map[string]any
	b, _ := json.Marshal(g)
	json.Unmarshal(b, &raw)
	if raw["profiles"]["default"]["bucket"] != "portal" {
		t.Errorf("profile JSON: %s", b)
	}
}

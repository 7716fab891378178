package ckansim

// World is the seeded state: the fixtures' organizations, datasets and users
// (see testdata/ckan-fixtures/README.md) plus a demo dataset.
type World struct {
	Editor, Member, Sysadmin *User
	AcceptanceOrg, OtherOrg  *Org
	AcceptanceDataset        *Dataset
	// DemoOrg/DemoDataset are what `ckanup demo` and `ckanup sandbox` upload to.
	DemoOrg     *Org
	DemoDataset *Dataset
	// LegacyDataset (in acceptance-org) holds resources with the loosely typed
	// values older portals store; see LegacyResources.
	LegacyDataset *Dataset
}

// Seed fills s with the world of the recorded CKAN fixtures:
// user "uploader" is an editor of "acceptance-org", which owns the public
// "acceptance-dataset"; user "reader" is only a member there; "other-org" owns
// "other-dataset" and the private "other-private", and neither user belongs to it;
// "admin" is a sysadmin. "uploader" is also an editor of "demo-org", which owns
// "demo-dataset". "legacy-dataset" of "acceptance-org" holds LegacyResources.
func Seed(s *Server) *World {
	w := &World{}
	w.Editor = s.AddUser("uploader", false)
	w.Member = s.AddUser("reader", false)
	w.Sysadmin = s.AddUser("admin", true)
	w.AcceptanceOrg = s.AddOrg("acceptance-org", "Acceptance Org", map[string]string{"uploader": "editor", "reader": "member"})
	w.OtherOrg = s.AddOrg("other-org", "Other Org (uploader not a member)", nil)
	w.AcceptanceDataset = s.AddDataset("acceptance-dataset", "Acceptance Dataset", "acceptance-org", false)
	w.AcceptanceDataset.Notes = "Target dataset for the uploader acceptance tests"
	s.AddDataset("other-dataset", "Other Dataset", "other-org", false)
	s.AddDataset("other-private", "Other Private Dataset", "other-org", true)
	w.DemoOrg = s.AddOrg("demo-org", "Demo Organization", map[string]string{"uploader": "editor"})
	w.DemoDataset = s.AddDataset("demo-dataset", "Demo Dataset", "demo-org", false)
	w.DemoDataset.Notes = "A dataset of the ckanup sandbox"
	w.LegacyDataset = s.AddDataset("legacy-dataset", "Legacy Dataset", "acceptance-org", false)
	w.LegacyDataset.Notes = "Resources as older CKAN portals store them"
	for _, r := range LegacyResources() {
		s.AddRawResource("legacy-dataset", r)
	}
	return w
}

// LegacyResources returns resource dicts as portals that grew up on CKAN ≤ 2.8
// (which stored resource fields as text) and portals with the DataStore or other
// extensions hold them: sizes "None", "", "1234", 1234.0, 12.5 and null;
// positions as strings; datastore_active as "True"/"false"/1; a number as a
// name; a resource served from CKAN's own storage (url_type "upload") and one
// from the DataStore (url_type "datastore").
func LegacyResources() []map[string]any {
	return []map[string]any{
		{"name": "old.csv", "size": "None", "position": "0", "url": "http://old.example.org/old.csv", "url_type": nil, "datastore_active": "False", "format": "CSV"},
		{"name": "empty-size.csv", "size": "", "url": "", "url_type": "", "datastore_active": false, "format": "", "hash": ""},
		{"name": "string-size.csv", "size": "1234", "url": "http://old.example.org/y.csv", "datastore_active": "True"},
		{"name": "float-size.csv", "size": 1234.0, "url": "http://old.example.org/z.csv", "datastore_active": 1},
		{"name": 2019, "size": 12.5, "url": nil, "description": 42, "format": nil, "datastore_active": nil},
		{"name": "datastore.csv", "size": nil, "url": "http://old.example.org/datastore/dump/x", "url_type": "datastore", "datastore_active": true},
		{"name": "uploaded.csv", "size": "2048 ", "url": "uploaded.csv", "url_type": "upload", "datastore_active": "false", "hash": "md5:0123"},
	}
}

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
}

// Seed fills s with the world of the recorded CKAN fixtures:
// user "uploader" is an editor of "acceptance-org", which owns the public
// "acceptance-dataset"; user "reader" is only a member there; "other-org" owns
// "other-dataset" and the private "other-private", and neither user belongs to it;
// "admin" is a sysadmin. "uploader" is also an editor of "demo-org", which owns
// "demo-dataset".
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
	return w
}

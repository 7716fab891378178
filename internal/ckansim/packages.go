package ckansim

// The dataset fields a data package sets (license_id, tags) and the dataset
// each call names, for the call log.

// callDataset names the dataset a call's parameters point at.
func (s *Server) callDataset(p map[string]any) string {
	for _, k := range []string{"package_id", "id", "name"} {
		if d := s.datasetByRef(str(p, k)); d != nil {
			return d.Name
		}
	}
	if d, _ := s.resourceByID(str(p, "id")); d != nil {
		return d.Name
	}
	if m, ok := p["match"].(map[string]any); ok { // package_revise
		return s.callDataset(m)
	}
	return ""
}

// setDatasetFields applies the metadata fields ckanup sends; it returns the
// validation errors CKAN would give.
func setDatasetFields(d *Dataset, p map[string]any) map[string][]string {
	errs := map[string][]string{}
	for k, dst := range map[string]*string{"title": &d.Title, "notes": &d.Notes, "license_id": &d.LicenseID} {
		if v, has := p[k]; has {
			switch v := v.(type) {
			case string:
				*dst = v
			case nil:
				*dst = ""
			default:
				errs[k] = []string{"Must be a string"}
			}
		}
	}
	if v, has := p["tags"]; has {
		list, ok := v.([]any)
		if !ok {
			errs["tags"] = []string{"Not a list"}
		}
		var tags []string
		for _, t := range list {
			m, _ := t.(map[string]any)
			name, _ := m["name"].(string)
			if name == "" {
				errs["tags"] = []string{"Missing value"}
				break
			}
			tags = append(tags, name)
		}
		d.Tags = tags
	}
	if len(errs) == 0 {
		return nil
	}
	return errs
}

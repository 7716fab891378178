package ckansim

import (
	"sort"
	"strconv"
	"strings"
)

// The dataset-name lookups that shell completion uses, answered as CKAN 2.10
// does: package_autocomplete matches q in the name or title of the datasets
// the caller may read (at most limit, default 10); package_list lists the
// names of public datasets, sorted (limit and offset optional).
func init() {
	actions["package_autocomplete"] = (*Server).packageAutocomplete
	actions["package_list"] = (*Server).packageList
}

func (s *Server) packageAutocomplete(caller *User, p map[string]any) answer {
	q := strings.ToLower(str(p, "q"))
	limit, err := strconv.Atoi(str(p, "limit"))
	if err != nil || limit <= 0 {
		limit = 10
	}
	out := []map[string]any{}
	if q == "" {
		return ok(out)
	}
	for _, d := range s.datasets {
		if len(out) == limit {
			break
		}
		if !s.canRead(caller, d) {
			continue
		}
		field, shown := "", ""
		switch {
		case strings.Contains(strings.ToLower(d.Name), q):
			field, shown = "name", d.Name
		case strings.Contains(strings.ToLower(d.Title), q):
			field, shown = "title", d.Title
		default:
			continue
		}
		out = append(out, map[string]any{"name": d.Name, "title": d.Title, "match_field": field, "match_displayed": shown})
	}
	return ok(out)
}

func (s *Server) packageList(_ *User, p map[string]any) answer {
	var names []string
	for _, d := range s.datasets {
		if !d.Private {
			names = append(names, d.Name)
		}
	}
	sort.Strings(names)
	if off, err := strconv.Atoi(str(p, "offset")); err == nil && off > 0 {
		names = names[min(off, len(names)):]
	}
	if limit, err := strconv.Atoi(str(p, "limit")); err == nil && limit >= 0 && limit < len(names) {
		names = names[:limit]
	}
	if names == nil {
		names = []string{}
	}
	return ok(names)
}

package ckan

import (
	"context"
	"net/url"
	"strconv"
)

// DatasetMatch is one answer of package_autocomplete.
type DatasetMatch struct {
	Name  string `json:"name"`
	Title string `json:"title"`
}

// PackageAutocomplete returns at most limit datasets whose name or title
// contains q (CKAN's package_autocomplete; private datasets only for users who
// may read them).
func (c *Client) PackageAutocomplete(ctx context.Context, q string, limit int) ([]DatasetMatch, error) {
	var m []DatasetMatch
	if err := c.call(ctx, "package_autocomplete", url.Values{"q": {q}, "limit": {strconv.Itoa(limit)}}, nil, &m); err != nil {
		return nil, err
	}
	return m, nil
}

// PackageList returns the names of at most limit public datasets, sorted
// (CKAN's package_list).
func (c *Client) PackageList(ctx context.Context, limit int) ([]string, error) {
	var names []string
	if err := c.call(ctx, "package_list", url.Values{"limit": {strconv.Itoa(limit)}}, nil, &names); err != nil {
		return nil, err
	}
	return names, nil
}

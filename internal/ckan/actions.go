package ckan

import (
	"context"
	"errors"
	"fmt"
	"net/url"
)

// StatusShow returns the site's version and URL; it needs no token.
func (c *Client) StatusShow(ctx context.Context) (*Status, error) {
	var s Status
	if err := c.call(ctx, "status_show", nil, nil, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// CurrentUser returns the user the token belongs to, ErrNoToken when the client
// has no token, or a *TokenRefusedError
// (errors.Is ErrNotAuthenticated) naming the headers sent when CKAN does not
// know the token: user_show without an id answers 404 to an anonymous caller.
func (c *Client) CurrentUser(ctx context.Context) (*User, error) {
	if c.token == "" {
		return nil, ErrNoToken
	}
	var u User
	if err := c.call(ctx, "user_show", nil, nil, &u); err != nil {
		if IsNotFound(err) {
			return nil, &TokenRefusedError{Headers: c.TokenHeaders()}
		}
		return nil, err
	}
	return &u, nil
}

// PackageShow returns a dataset by name or id, with all its resources. The
// answer is read as it arrives, and each resource is kept with its typed
// fields only (Resource.Extra and Fields find nothing; ResourceShow reads a
// resource's whole dict): a dataset of 10,000 resources is about 10 MB of
// JSON, which read whole and kept as dicts took 30 MB.
func (c *Client) PackageShow(ctx context.Context, id string) (*Dataset, error) {
	out := newShownDataset()
	if err := c.call(ctx, "package_show", url.Values{"id": {id}}, nil, out); err != nil {
		return nil, err
	}
	return &out.d, nil
}

// OrganizationsForUser lists the organizations where the caller holds permission
// ("update_dataset", "create_dataset", "read", …).
func (c *Client) OrganizationsForUser(ctx context.Context, permission string) ([]Organization, error) {
	var orgs []Organization
	if err := c.call(ctx, "organization_list_for_user", url.Values{"permission": {permission}}, nil, &orgs); err != nil {
		return nil, err
	}
	return orgs, nil
}

// CollaboratorDatasets lists the datasets where user is a collaborator. On a site
// with collaborators disabled (the default) CKAN answers 409; that is no rights,
// not a failure.
func (c *Client) CollaboratorDatasets(ctx context.Context, user string) ([]Collaboration, error) {
	var cs []Collaboration
	err := c.call(ctx, "package_collaborator_list_for_user", url.Values{"id": {user}}, nil, &cs)
	var ae *APIError
	if errors.As(err, &ae) && ae.Type == TypeValidation {
		return nil, nil
	}
	return cs, err
}

// ResourceShow returns a resource by id.
func (c *Client) ResourceShow(ctx context.Context, id string) (*Resource, error) {
	var r Resource
	if err := c.call(ctx, "resource_show", url.Values{"id": {id}}, nil, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ResourceCreate creates a resource from fields (package_id required). A
// client-chosen "id" is accepted by CKAN; beware that CKAN silently overwrites an
// existing resource with that id.
func (c *Client) ResourceCreate(ctx context.Context, fields map[string]any) (*Resource, error) {
	var r Resource
	if err := c.call(ctx, "resource_create", nil, fields, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// ResourcePatch updates the given fields of the resource fields["id"].
func (c *Client) ResourcePatch(ctx context.Context, fields map[string]any) (*Resource, error) {
	var r Resource
	if err := c.call(ctx, "resource_patch", nil, fields, &r); err != nil {
		return nil, err
	}
	return &r, nil
}

// Capacity values that allow editing a dataset.
var editCapacities = map[string]bool{"editor": true, "admin": true}

// EditRight says why a user may edit a dataset, or that they may not.
type EditRight struct {
	Allowed bool
	// Reason: "sysadmin", "organization <name> (<capacity>)", "collaborator (<capacity>)",
	// or why not.
	Reason string
}

// CanEdit decides whether user may edit dataset the way CKAN's auth does:
// sysadmin; editor or admin of the owner organization; or editor/admin collaborator.
func (c *Client) CanEdit(ctx context.Context, user *User, d *Dataset) (EditRight, error) {
	if user.Sysadmin {
		return EditRight{Allowed: true, Reason: "sysadmin"}, nil
	}
	if d.OwnerOrg != "" {
		orgs, err := c.OrganizationsForUser(ctx, "update_dataset")
		if err != nil {
			return EditRight{}, err
		}
		for _, o := range orgs {
			if o.ID == d.OwnerOrg || o.Name == d.OwnerOrg {
				return EditRight{Allowed: true, Reason: fmt.Sprintf("organization %s (%s)", o.Name, o.Capacity)}, nil
			}
		}
	}
	cs, err := c.CollaboratorDatasets(ctx, user.ID)
	if err != nil {
		return EditRight{}, err
	}
	for _, col := range cs {
		if col.PackageID == d.ID && editCapacities[col.Capacity] {
			return EditRight{Allowed: true, Reason: fmt.Sprintf("collaborator (%s)", col.Capacity)}, nil
		}
	}
	org := d.OwnerOrg
	if d.Organization != nil {
		org = d.Organization.Name
	}
	return EditRight{Reason: fmt.Sprintf("user %s is not an editor or admin of organization %s, nor an editor collaborator of the dataset", user.Name, org)}, nil
}

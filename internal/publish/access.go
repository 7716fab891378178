package publish

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/ckanup/ckanup/internal/ckan"
	"github.com/ckanup/ckanup/internal/creds"
	"github.com/ckanup/ckanup/internal/failure"
	"github.com/ckanup/ckanup/internal/hint"
	"github.com/ckanup/ckanup/internal/scope"
)

// ErrNotEditable reports a dataset the token's user may not edit (kind Auth).
var ErrNotEditable = failure.Wrap(failure.Auth, errors.New("not allowed to edit the dataset"))

// CheckEditable returns why user may edit dataset d (an organization role, a
// collaborator capacity or sysadmin, as ckan.Client.CanEdit reads them), or an
// error wrapping ErrNotEditable with a hint.
func CheckEditable(ctx context.Context, c *ckan.Client, user *ckan.User, d *ckan.Dataset) (string, error) {
	right, err := c.CanEdit(ctx, user, d)
	if err != nil {
		return "", fmt.Errorf("check edit rights on dataset %s: %w", d.Name, err)
	}
	if !right.Allowed {
		return "", hint.With(fmt.Errorf("dataset %s: %w: %s", d.Name, ErrNotEditable, right.Reason),
			"ask an admin of the dataset's organization to make you an editor, or use another user's token")
	}
	return right.Reason, nil
}

// EditableDataset looks up the dataset named ref (name or id, package_show) and
// checks that user may edit it. It returns the dataset and why the user may
// edit it; errors carry hints (not found, private, not editable).
func EditableDataset(ctx context.Context, c *ckan.Client, user *ckan.User, ref string) (*ckan.Dataset, string, error) {
	d, err := c.PackageShow(ctx, ref)
	switch {
	case ckan.IsNotFound(err):
		return nil, "", hint.With(fmt.Errorf("dataset %q not found on %s: %w", ref, c.SiteURL(), err),
			"check the dataset's name (the last part of its URL) or id")
	case ckan.IsForbidden(err):
		return nil, "", hint.With(fmt.Errorf("dataset %q on %s: %w", ref, c.SiteURL(), err),
			"the dataset is private and user "+user.Name+" is not a member of its organization")
	case err != nil:
		return nil, "", fmt.Errorf("look up dataset %q: %w", ref, err)
	}
	why, err := CheckEditable(ctx, c, user, d)
	if err != nil {
		return nil, "", err
	}
	return d, why, nil
}

// CredentialsOptions choose where one dataset's AWS credentials come from.
type CredentialsOptions struct {
	// TokenURL is a ckanup token endpoint; when set it decides the whole target
	// (bucket, region, endpoint, prefix) and Chain is not called.
	TokenURL string
	// Token is the CKAN API token the token endpoint checks.
	Token string
	HTTP  *http.Client
	// Chain resolves the AWS SDK's default chain with the target settings
	// (bucket, key prefix, region, endpoint).
	Chain func(context.Context) (*creds.Source, error)
	// RoleARN, when set, is assumed with STS under a session policy confined to
	// the dataset's prefix (scope.SessionPolicy), for SessionDuration.
	RoleARN         string
	SessionDuration time.Duration
	// Site is the CKAN site URL and User the CKAN user: the role session name.
	Site, User string
	Dataset    *ckan.Dataset
	// OnRefresh hears each set of credentials fetched, with its expiry.
	OnRefresh func(expires time.Time)
}

// Credentials returns the credentials and target for one dataset, from, in
// order of preference, a token endpoint, STS AssumeRole, or the SDK chain. The
// target's DatasetPrefix is always set: the token endpoint's (checked to end
// in <organization id>/<dataset id>/), else scope.DatasetPrefix. Errors carry
// hints; a refusal by the token endpoint wraps creds.ErrDenied.
func Credentials(ctx context.Context, o CredentialsOptions) (*creds.Source, error) {
	d := o.Dataset
	if o.TokenURL != "" {
		src, err := creds.FromEndpoint(ctx, creds.EndpointOptions{URL: o.TokenURL, Token: o.Token, Dataset: d.ID,
			HTTP: o.HTTP, OnRefresh: o.OnRefresh})
		if errors.Is(err, creds.ErrDenied) {
			return nil, hint.With(err, "the token endpoint only serves editors of datasets in the organizations it is enabled for")
		}
		if err != nil {
			return nil, err
		}
		if want := d.OwnerOrg + "/" + d.ID + "/"; !strings.HasSuffix(src.Target.DatasetPrefix, want) {
			return nil, fmt.Errorf("the token endpoint scoped the credentials to %q, not to dataset %s", src.Target.DatasetPrefix, d.Name)
		}
		return src, nil
	}
	src, err := o.Chain(ctx)
	if err != nil {
		return nil, err
	}
	prefix := scope.DatasetPrefix(src.Target.KeyPrefix, d.OwnerOrg, d.ID)
	if o.RoleARN == "" {
		src.Target.DatasetPrefix = prefix
		return src, nil
	}
	policy, err := scope.SessionPolicy(src.Target.Bucket, prefix)
	if err != nil {
		return nil, err
	}
	host := o.Site
	if u, err := url.Parse(host); err == nil {
		host = u.Host
	}
	assumed, err := creds.AssumeRole(src, creds.AssumeRoleOptions{RoleARN: o.RoleARN, SessionName: scope.SessionName(o.User, host),
		Duration: o.SessionDuration, Policy: policy, OnRefresh: o.OnRefresh})
	if err != nil {
		return nil, err
	}
	if _, err := assumed.Config.Credentials.Retrieve(ctx); err != nil {
		return nil, hint.With(fmt.Errorf("assume role %s: %w", o.RoleARN, err), "check the role's trust policy allows your AWS identity to assume it")
	}
	assumed.Target.DatasetPrefix = prefix
	return assumed, nil
}

// CheckCanCreateIn checks that user may create datasets in the organization
// ref (name or id), as organization_list_for_user with permission
// create_dataset lists them (a sysadmin is listed every organization). An
// organization that does not exist, or where the user may not create
// datasets, is a failure.NotFound error with a hint: the two look alike to a
// caller, and both are settled by naming another organization.
func CheckCanCreateIn(ctx context.Context, c *ckan.Client, user *ckan.User, ref string) (*ckan.Organization, error) {
	orgs, err := c.OrganizationsForUser(ctx, "create_dataset")
	if err != nil {
		return nil, fmt.Errorf("list the organizations user %s may create datasets in: %w", user.Name, err)
	}
	var names []string
	for i, o := range orgs {
		if o.Name == ref || o.ID == ref {
			return &orgs[i], nil
		}
		names = append(names, o.Name)
	}
	where := "none"
	if len(names) > 0 {
		where = strings.Join(names, ", ")
	}
	return nil, hint.With(failure.Wrap(failure.NotFound,
		fmt.Errorf("no organization %q on %s in which user %s may create datasets", ref, c.SiteURL(), user.Name)),
		"check --org (an organization's name or id); user "+user.Name+" may create datasets in: "+where)
}

// Package scope defines what a dataset's temporary credentials may touch: the
// dataset's key prefix, the STS session policy confined to it, and the role
// session name that identifies who asked.
package scope

import (
	"encoding/json"
	"fmt"
	"path"
	"strings"
)

// DatasetPrefix is the key prefix of one dataset's objects, ending in "/":
// [keyPrefix/]<organization id>/<dataset id>/.
func DatasetPrefix(keyPrefix, orgID, datasetID string) string {
	if orgID == "" {
		orgID = "no-organization"
	}
	return path.Join(strings.Trim(keyPrefix, "/"), orgID, datasetID) + "/"
}

// Actions granted on the dataset's prefix. s3:PutObject covers
// CreateMultipartUpload, UploadPart and CompleteMultipartUpload;
// s3:ListMultipartUploadParts is what resuming needs; s3:GetObject lets the
// client verify the object with HEAD. Nothing else: no delete, no bucket listing
// (s3:ListBucketMultipartUploads is a bucket-level action that cannot be confined
// to a prefix).
var Actions = []string{"s3:PutObject", "s3:AbortMultipartUpload", "s3:ListMultipartUploadParts", "s3:GetObject"}

type statement struct {
	Sid      string   `json:"Sid"`
	Effect   string   `json:"Effect"`
	Action   []string `json:"Action"`
	Resource []string `json:"Resource"`
}

type policy struct {
	Version   string      `json:"Version"`
	Statement []statement `json:"Statement"`
}

// SessionPolicy is the inline policy passed to sts:AssumeRole: the effective
// rights are the intersection of the role's policy and this one.
func SessionPolicy(bucket, datasetPrefix string) (string, error) {
	if bucket == "" || datasetPrefix == "" || !strings.HasSuffix(datasetPrefix, "/") || strings.ContainsAny(datasetPrefix, "*?") {
		return "", fmt.Errorf("bad scope: bucket %q prefix %q", bucket, datasetPrefix)
	}
	b, err := json.Marshal(policy{Version: "2012-10-17", Statement: []statement{{
		Sid: "UploadToOneDataset", Effect: "Allow", Action: Actions,
		Resource: []string{"arn:aws:s3:::" + bucket + "/" + datasetPrefix + "*"},
	}}})
	return string(b), err
}

// SessionName is a RoleSessionName naming the user and the site, within STS's
// rules: 2 to 64 characters of [A-Za-z0-9_+=,.@-].
func SessionName(user, siteHost string) string {
	clean := func(s string) string {
		return strings.Map(func(r rune) rune {
			switch {
			case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', strings.ContainsRune("_+=,.@-", r):
				return r
			}
			return '-'
		}, s)
	}
	name := "ckanup." + clean(user) + "@" + clean(siteHost)
	if len(name) > 64 {
		name = name[:64]
	}
	return name
}

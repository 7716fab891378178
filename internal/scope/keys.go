package scope

import (
	"fmt"
	"strings"
	"unicode"
)

// MaxKeyLen is the longest object key S3 accepts, in bytes (S3 User Guide,
// "Naming Amazon S3 objects").
const MaxKeyLen = 1024

// ObjectKey is the key of a resource's object:
// <datasetPrefix><resource id>/<KeyName(name)>. datasetPrefix comes from
// DatasetPrefix and ends in "/". It returns an error when the key would be
// longer than MaxKeyLen bytes.
func ObjectKey(datasetPrefix, resourceID, name string) (string, error) {
	key := datasetPrefix + resourceID + "/" + KeyName(name)
	if len(key) > MaxKeyLen {
		return "", fmt.Errorf("the object key would be %d bytes, over S3's 1,024", len(key))
	}
	return key, nil
}

// KeyName turns a resource name into the last segments of an object key:
// control characters and "\" become "_", and empty, "." and ".." segments are
// dropped ("file" when nothing is left).
func KeyName(name string) string {
	var segs []string
	for _, s := range strings.Split(name, "/") {
		s = strings.Map(func(r rune) rune {
			if unicode.IsControl(r) || r == '\\' {
				return '_'
			}
			return r
		}, s)
		if s == "" || s == "." || s == ".." {
			continue
		}
		segs = append(segs, s)
	}
	if len(segs) == 0 {
		return "file"
	}
	return strings.Join(segs, "/")
}

// EscapeKey percent-encodes an object key for a URL path the way S3 decodes it:
// everything but unreserved characters (RFC 3986) and "/" is encoded, "+"
// included, which S3 would otherwise read as a space in some paths.
func EscapeKey(key string) string {
	var b strings.Builder
	for i := 0; i < len(key); i++ {
		c := key[i]
		if c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' || c == '/' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, "%%%02X", c)
		}
	}
	return b.String()
}

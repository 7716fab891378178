package main

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/ckanup/ckanup/internal/upload"
)

// --checksum, then CKANUP_CHECKSUM, then auto; an unknown mode is a usage
// error; a fallback is told to the person.
func TestChecksumFlag(t *testing.T) {
	cases := []struct {
		flag, env string
		want      upload.Checksum
		usage     bool
	}{
		{"", "", upload.ChecksumAuto, false},
		{"", "md5", upload.ChecksumMD5, false},
		{"crc64nvme", "md5", upload.ChecksumCRC64NVME, false},
		{"OFF", "", upload.ChecksumOff, false},
		{"sha1", "", "", true},
		{"", "crc33", "", true},
	}
	for _, tc := range cases {
		deps := &Deps{Getenv: func(k string) string {
			if k == "CKANUP_CHECKSUM" {
				return tc.env
			}
			return ""
		}}
		var told []string
		f := &S3Flags{Checksum: tc.flag}
		o, err := f.engineOptions(deps, upload.Options{}, func(format string, a ...any) { told = append(told, fmt.Sprintf(format, a...)) })
		var ue *usageError
		if tc.usage {
			if !errors.As(err, &ue) || exitCode(err) != exitUsage {
				t.Errorf("flag %q env %q: err %v, want a usage error", tc.flag, tc.env, err)
			}
			continue
		}
		if err != nil || o.Checksum != tc.want {
			t.Errorf("flag %q env %q: %q, %v; want %q", tc.flag, tc.env, o.Checksum, err, tc.want)
			continue
		}
		o.OnChecksumFallback(upload.ChecksumCRC32C, upload.ChecksumMD5, errors.New("400 InvalidArgument"))
		if len(told) != 1 || !strings.Contains(told[0], "Content-MD5") || !strings.Contains(told[0], "--checksum md5") {
			t.Errorf("notice: %q", told)
		}
	}
}

package ckan

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
)

// Real CKAN portals hold loosely typed values: CKAN ≤ 2.8 stored resource fields
// as text, so a resource's size may come back as 1234, "1234", "1234.0", "",
// "None" or null; booleans such as private or datastore_active as true, "True",
// "true" or "1"; plugins add numbers where strings were expected. The decoders
// below read every such value and never fail: a value they cannot read is
// "unset", so one odd resource never blocks reading a dataset.

// Bool is a boolean read loosely from CKAN: JSON true/false, the strings CKAN's
// asbool accepts ("true", "yes", "on", "y", "t", "1" and their false
// counterparts, any case), numbers (non-zero is true). Anything else — null,
// "", "None", objects — is false. Source of the word lists: ckan.common.asbool.
type Bool bool

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (b *Bool) UnmarshalJSON(raw []byte) error {
	*b = Bool(looseBool(raw))
	return nil
}

// Int is an integer read loosely from CKAN; see LooseInt for what it accepts.
// Valid is false when the value was absent or unreadable.
type Int struct {
	Value int64
	Valid bool
}

// UnmarshalJSON implements json.Unmarshaler; it never fails.
func (n *Int) UnmarshalJSON(raw []byte) error {
	n.Value, n.Valid = LooseInt(raw)
	return nil
}

// MarshalJSON writes the number, or null when not Valid.
func (n Int) MarshalJSON() ([]byte, error) {
	if !n.Valid {
		return []byte("null"), nil
	}
	return strconv.AppendInt(nil, n.Value, 10), nil
}

// Ptr returns the value as a pointer, nil when not Valid.
func (n Int) Ptr() *int64 {
	if !n.Valid {
		return nil
	}
	v := n.Value
	return &v
}

// LooseInt reads a JSON value as a whole number: a JSON number or a string
// holding one ("1234", " 1234 ", "1234.0", "1e3"), as long as it is integral and
// fits in an int64. null, "", "None", "null", fractions, booleans, objects and
// arrays are not numbers (ok false).
func LooseInt(raw []byte) (v int64, ok bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	var text string
	switch raw[0] {
	case '"':
		if json.Unmarshal(raw, &text) != nil {
			return 0, false
		}
		text = strings.TrimSpace(text)
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		text = string(raw)
	default:
		return 0, false
	}
	if i, err := strconv.ParseInt(text, 10, 64); err == nil {
		return i, true
	}
	f, err := strconv.ParseFloat(text, 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f >= math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

func looseBool(raw []byte) bool {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return false
	}
	switch raw[0] {
	case 't':
		return string(raw) == "true"
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return false
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "true", "yes", "on", "y", "t", "1":
			return true
		}
		return false
	}
	if v, ok := LooseInt(raw); ok {
		return v != 0
	}
	var f float64
	return json.Unmarshal(raw, &f) == nil && f != 0
}

// looseString reads a JSON value as text: a string as is, a number in its JSON
// spelling, true/false as "true"/"false"; null, objects and arrays as "".
func looseString(raw []byte) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return s
	case 't', 'f':
		if string(raw) == "true" || string(raw) == "false" {
			return string(raw)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		var n json.Number
		if json.Unmarshal(raw, &n) == nil {
			return n.String()
		}
	}
	return ""
}

// object is a JSON object's members, read loosely by name.
type object map[string]json.RawMessage

// decodeObject reads raw as a JSON object. null and any non-object give an empty
// object and ok false.
func decodeObject(raw []byte) (object, bool) {
	var o object
	if err := json.Unmarshal(raw, &o); err != nil || o == nil {
		return object{}, false
	}
	return o, true
}

func (o object) str(k string) string { return looseString(o[k]) }
func (o object) flag(k string) Bool  { return Bool(looseBool(o[k])) }
func (o object) num(k string) Int {
	v, ok := LooseInt(o[k])
	return Int{Value: v, Valid: ok}
}

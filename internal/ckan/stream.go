package ckan

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Answers that hold a whole dataset (package_revise's) grow with the number of
// resources: about 1 KB each, so 10 MB for a dataset of 10,000. Read whole and
// decoded into maps, one such answer took more memory than the rest of an
// upload of 10,000 files. A resultStreamer reads the result from the answer's
// stream instead, keeping only what it needs.

// resultStreamer is a call's out that reads the envelope's "result" itself,
// from a decoder positioned at its value.
type resultStreamer interface {
	// streamResult reads the result; a null one is errNull.
	streamResult(dec *json.Decoder) error
	// done reports that a result was read.
	done() bool
}

// decodeStream reads a 200 answer of JSON type without holding it whole: the
// envelope's members are read in turn and "result" goes to s. An answer that
// does not start as an object, or says success false, is read whole and
// interpreted by decode, as every other answer is.
func decodeStream(action string, status int, contentType string, body io.Reader, s resultStreamer) error {
	br := bufio.NewReader(body)
	if first, err := firstByte(br); err != nil || first != '{' {
		raw, rerr := io.ReadAll(io.LimitReader(br, 64<<20))
		if rerr != nil {
			return fmt.Errorf("CKAN %s: read answer: %w", action, rerr)
		}
		return decode(action, status, contentType, raw, nil)
	}
	head := &headBuffer{max: 200}
	dec := json.NewDecoder(io.TeeReader(br, head))
	bad := func() error {
		return &ResponseError{Action: action, Status: status, ContentType: contentType, Snippet: head.String()}
	}
	if _, err := dec.Token(); err != nil { // the '{' seen above
		return bad()
	}
	var success *bool
	var errRaw json.RawMessage
	var resultErr error
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return bad()
		}
		switch key, _ := t.(string); key {
		case "success":
			var b bool
			if err := dec.Decode(&b); err != nil {
				return bad()
			}
			success = &b
		case "error":
			if err := dec.Decode(&errRaw); err != nil {
				return bad()
			}
		case "result":
			if success != nil && !*success {
				if err := skipValue(dec); err != nil {
					return bad()
				}
				continue
			}
			resultErr = s.streamResult(dec)
			if errors.Is(resultErr, errNull) { // read whole: the stream goes on
				resultErr = nil
				continue
			}
			if resultErr != nil {
				// The decoder's place in the stream is unknown now.
				if success != nil && !*success {
					return decode(action, status, contentType, envelopeOf(false, errRaw), nil)
				}
				return fmt.Errorf("CKAN %s: unexpected result: %w", action, resultErr)
			}
		default:
			if err := skipValue(dec); err != nil {
				return bad()
			}
		}
	}
	if _, err := dec.Token(); err != nil { // the closing '}'
		return bad()
	}
	if success == nil {
		return bad()
	}
	if !*success {
		return decode(action, status, contentType, envelopeOf(false, errRaw), nil)
	}
	if resultErr != nil || !s.done() {
		return fmt.Errorf("CKAN %s: unexpected result: no result in the answer", action)
	}
	return nil
}

// errNull is a result that is null: read whole, so the envelope's next
// member can be read.
var errNull = errors.New("the result is null")

// envelopeOf rebuilds the envelope of an answer for decode.
func envelopeOf(success bool, errRaw json.RawMessage) []byte {
	if len(errRaw) == 0 {
		errRaw = json.RawMessage("null")
	}
	b, _ := json.Marshal(map[string]any{"success": success, "error": errRaw})
	return b
}

// firstByte peeks at the first byte that is not white space.
func firstByte(br *bufio.Reader) (byte, error) {
	for {
		b, err := br.ReadByte()
		if err != nil {
			return 0, err
		}
		switch b {
		case ' ', '\t', '\r', '\n':
			continue
		}
		return b, br.UnreadByte()
	}
}

// skipValue reads past the decoder's next value without keeping it.
func skipValue(dec *json.Decoder) error {
	depth := 0
	for {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		switch t {
		case json.Delim('{'), json.Delim('['):
			depth++
		case json.Delim('}'), json.Delim(']'):
			depth--
		}
		if depth == 0 {
			return nil
		}
	}
}

// headBuffer keeps the first max bytes written to it (for error messages).
type headBuffer struct {
	max int
	b   bytes.Buffer
}

func (h *headBuffer) Write(p []byte) (int, error) {
	if room := h.max - h.b.Len(); room > 0 {
		h.b.Write(p[:min(room, len(p))])
	}
	return len(p), nil
}

func (h *headBuffer) String() string { return h.b.String() }

// datasetReader reads a dataset from an answer as it streams: the dataset's
// fields as Dataset.UnmarshalJSON reads them, and its resources one at a time,
// each kept with its typed fields only (not the dict: Extra and Fields find
// nothing), so that a dataset of 10,000 resources takes a few MB, not the
// 30 MB of reading the answer whole and keeping every dict.
//
// package_show's result is the dataset, and every resource is kept.
// package_revise's is {"package": dataset}, and only the resources the
// revision names are kept — the ones it updates (by id) and the ones it adds
// (by id; one added without an id, by position: CKAN appends the added
// resources at the end, in the order sent). Each other resource is read and
// dropped.
type datasetReader struct {
	wrapped bool // the result is {"package": dataset}
	all     bool // keep every resource; else ids and anonAdd say which
	ids     map[string]bool
	anonAdd int // resources added without an id
	d       Dataset
	read    bool
}

func (r *datasetReader) done() bool { return r.read }

// newShownDataset reads package_show's result.
func newShownDataset() *datasetReader { return &datasetReader{all: true} }

// newRevisedDataset reads package_revise's result for rev.
func newRevisedDataset(rev Revision) *datasetReader {
	r := &datasetReader{wrapped: true, ids: map[string]bool{}}
	for _, u := range rev.Update {
		r.ids[u.ID] = true
	}
	for _, a := range rev.Add {
		if a.ID == "" {
			r.anonAdd++
		} else {
			r.ids[a.ID] = true
		}
	}
	return r
}

// UnmarshalJSON reads the result when the answer was read whole.
func (r *datasetReader) UnmarshalJSON(raw []byte) error {
	return r.streamResult(json.NewDecoder(bytes.NewReader(raw)))
}

func (r *datasetReader) streamResult(dec *json.Decoder) error {
	if !r.wrapped {
		err := r.streamDataset(dec)
		r.read = err == nil
		return err
	}
	found := false
	err := streamObject(dec, func(key string) error {
		if key != "package" {
			return skipValue(dec)
		}
		found = true
		return r.streamDataset(dec)
	})
	if err == nil && !found {
		err = errors.New(`no "package" in the result`)
	}
	r.read = err == nil
	return err
}

// streamDataset reads the dataset object, the resources one at a time.
func (r *datasetReader) streamDataset(dec *json.Decoder) error {
	o := object{}
	type kept struct {
		pos int
		res Resource
	}
	var all []Resource // with r.all: every resource, in order
	var keep []kept
	var tail []kept // the last anonAdd resources seen, not otherwise kept
	sawResources := false
	err := streamObject(dec, func(key string) error {
		if key != "resources" {
			var v json.RawMessage
			if err := dec.Decode(&v); err != nil {
				return err
			}
			o[key] = v
			return nil
		}
		t, err := dec.Token()
		if err != nil {
			return err
		}
		if t == nil { // null: no resources
			return nil
		}
		if t != json.Delim('[') {
			return errors.New("resources is not a list")
		}
		sawResources = true
		for pos := 0; dec.More(); pos++ {
			var raw json.RawMessage
			if err := dec.Decode(&raw); err != nil {
				return err
			}
			if len(raw) == 0 || raw[0] != '{' {
				continue // not an object: left out, as Dataset.UnmarshalJSON does
			}
			named := r.all
			if !named {
				var head struct {
					ID any `json:"id"`
				}
				_ = json.Unmarshal(raw, &head)
				id, _ := head.ID.(string)
				named = r.ids[id]
				if !named && r.anonAdd == 0 {
					continue
				}
			}
			var res Resource
			if err := res.read(raw); err != nil { // raw is Decode's own copy
				continue
			}
			res.raw = nil // typed fields only: see datasetReader
			if r.all {
				all = append(all, res)
				continue
			}
			if named {
				keep = append(keep, kept{pos, res})
				continue
			}
			tail = append(tail, kept{pos, res})
			if len(tail) > r.anonAdd {
				tail = slices.Delete(tail, 0, 1)
			}
		}
		_, err = dec.Token() // ']'
		return err
	})
	if err != nil {
		return err
	}
	if err := r.d.fromObject(o); err != nil {
		return err
	}
	if r.all {
		if sawResources && all == nil {
			all = []Resource{}
		}
		r.d.Resources = all
		return nil
	}
	keep = append(keep, tail...)
	slices.SortFunc(keep, func(a, b kept) int { return a.pos - b.pos })
	if sawResources {
		r.d.Resources = make([]Resource, 0, len(keep))
	}
	for _, k := range keep {
		r.d.Resources = append(r.d.Resources, k.res)
	}
	return nil
}

// streamObject reads an object from dec, calling member for each key with
// the decoder positioned at the key's value, which member must read whole.
func streamObject(dec *json.Decoder, member func(key string) error) error {
	t, err := dec.Token()
	if err != nil {
		return err
	}
	if t == nil {
		return errNull
	}
	if t != json.Delim('{') {
		return fmt.Errorf("expected a JSON object, got %s", strings.TrimSpace(fmt.Sprint(t)))
	}
	for dec.More() {
		t, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := t.(string)
		if err := member(key); err != nil {
			return err
		}
	}
	_, err = dec.Token() // '}'
	return err
}

package soloauth

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// StringList is a list of strings that JSON may also give as one plain
// string: `"jwks_url": "https://..."` (the first round's form) and
// `"jwks_url": ["https://...", "https://..."]` both read, and a list of
// one value is written back as a plain string, so that configs and
// `caddy adapt` output from before lists stay valid and unchanged.
type StringList []string

// UnmarshalJSON reads a string or an array of strings.
func (l *StringList) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return err
		}
		// "" is unset, as it was when these fields were plain strings.
		*l = nil
		if s != "" {
			*l = StringList{s}
		}
		return nil
	}
	var list []string
	if err := json.Unmarshal(b, &list); err != nil {
		return fmt.Errorf("want a string or an array of strings: %w", err)
	}
	*l = list
	return nil
}

// MarshalJSON writes one value as a plain string, several as an array.
func (l StringList) MarshalJSON() ([]byte, error) {
	if len(l) == 1 {
		return json.Marshal(l[0])
	}
	return json.Marshal([]string(l))
}

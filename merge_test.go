package soloauth

import (
	"reflect"
	"testing"
	"time"
)

// TestWithOverridesMergesEveryField: every setting of SoloAuth that a
// directive gives reaches the merged config, and every one the global
// option gives is inherited where the directive is silent. A field added
// to SoloAuth and forgotten in withOverrides fails here.
func TestWithOverridesMergesEveryField(t *testing.T) {
	// Settings only the global option takes (a directive naming them is
	// a config error).
	globalOnly := map[string]bool{"RevocationPoll": true}
	typ := reflect.TypeFor[SoloAuth]()
	for i := range typ.NumField() {
		f := typ.Field(i)
		if !f.IsExported() {
			continue
		}
		sample := sampleValue(t, f.Name, f.Type)
		t.Run(f.Name, func(t *testing.T) {
			var global, local SoloAuth
			reflect.ValueOf(&global).Elem().Field(i).Set(sample)
			inherited := global.withOverrides(&local)
			if got := reflect.ValueOf(inherited).Elem().Field(i); !reflect.DeepEqual(got.Interface(), sample.Interface()) {
				t.Errorf("set in the global option only: merged %v, want %v", got, sample)
			}
			if globalOnly[f.Name] {
				return
			}
			global, local = SoloAuth{}, SoloAuth{}
			reflect.ValueOf(&local).Elem().Field(i).Set(sample)
			merged := global.withOverrides(&local)
			if got := reflect.ValueOf(merged).Elem().Field(i); !reflect.DeepEqual(got.Interface(), sample.Interface()) {
				t.Errorf("set in the directive only: merged %v, want %v (withOverrides does not merge it)", got, sample)
			}
		})
	}
}

// sampleValue is a non-zero value of a config field's type.
func sampleValue(t *testing.T, name string, typ reflect.Type) reflect.Value {
	v := reflect.New(typ).Elem()
	switch typ.Kind() {
	case reflect.String:
		v.SetString("x")
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int64:
		v.SetInt(int64(5 * time.Second))
	case reflect.Slice:
		if typ.Elem().Kind() != reflect.String {
			t.Fatalf("%s: no sample for %v; extend sampleValue", name, typ)
		}
		v.Set(reflect.Append(v, reflect.ValueOf("x").Convert(typ.Elem())))
	case reflect.Pointer:
		p := reflect.New(typ.Elem())
		p.Elem().Set(sampleValue(t, name, typ.Elem()))
		v.Set(p)
	default:
		t.Fatalf("%s: no sample for %v; extend sampleValue", name, typ)
	}
	return v
}

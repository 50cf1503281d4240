package jsoncompare

import (
	"unsafe"

	"github.com/tidwall/gjson"
	"github.com/valyala/fastjson"
)

// fastjson: Validate (Parse alone does not check everything json.Valid
// does) and then a pooled Parser; Visit so the last duplicate wins (Get
// returns the first). Caveat: fastjson refuses nesting deeper than 300,
// json.Valid allows 10000.
var fjPool fastjson.ParserPool

func fjKind(v *fastjson.Value) byte {
	switch v.Type() {
	case fastjson.TypeObject:
		return '{'
	case fastjson.TypeNull:
		return 'n'
	case fastjson.TypeString:
		return '"'
	}
	return 'x'
}

func fjString(v *fastjson.Value) string {
	if v == nil || v.Type() != fastjson.TypeString {
		return ""
	}
	b, _ := v.StringBytes()
	return string(b)
}

func fjMember(v *fastjson.Value, key string) (found *fastjson.Value) {
	if o, err := v.Object(); v != nil && err == nil {
		o.Visit(func(k []byte, v *fastjson.Value) {
			if string(k) == key {
				found = v
			}
		})
	}
	return found
}

func fjMerge(f *leadFields, v *fastjson.Value) {
	if o, err := v.Object(); v != nil && err == nil {
		o.Visit(func(k []byte, v *fastjson.Value) {
			if dst := f.traitSetter(string(k)); dst != nil && v.Type() != fastjson.TypeNull {
				*dst = fjString(v)
			}
		})
	}
}

func fjIsTrue(v *fastjson.Value) bool { return v != nil && v.Type() == fastjson.TypeTrue }

// fjTop validates and parses data and reads the envelope; fn runs while the
// parser still owns the values.
func fjTop(data []byte, fn func(env envelope, top *fastjson.Value)) bool {
	if fastjson.ValidateBytes(data) != nil {
		return false
	}
	p := fjPool.Get()
	defer fjPool.Put(p)
	v, err := p.ParseBytes(data)
	if err != nil {
		return false
	}
	o, err := v.Object()
	if err != nil {
		return false
	}
	var env envelope
	o.Visit(func(k []byte, v *fastjson.Value) {
		switch string(k) {
		case "type":
			env.typ, env.typK = nil, fjKind(v)
			env.typIsString = env.typK == '"'
			if env.typIsString {
				env.typ, _ = v.StringBytes()
			}
		case "event":
			env.event, env.eventK = nil, fjKind(v)
			env.eventIsString = env.eventK == '"'
			if env.eventIsString {
				env.event, _ = v.StringBytes()
			}
		case "traits":
			env.traitsK = fjKind(v)
		case "properties":
			env.propertiesK = fjKind(v)
		case "context":
			env.contextK = fjKind(v)
		}
	})
	fn(env, v)
	return true
}

var fastjsonCandidate = candidate{
	name: "fastjson",
	drop: func(data []byte) (mapped, ok bool) {
		fjTop(data, func(env envelope, _ *fastjson.Value) { mapped, ok = decide(env) })
		return mapped, ok
	},
	lead: func(data []byte) (f leadFields, ok bool) {
		fjTop(data, func(env envelope, top *fastjson.Value) {
			if mapped, valid := decide(env); !mapped || !valid {
				return
			}
			ctx := fjMember(top, "context")
			fjMerge(&f, fjMember(ctx, "traits"))
			fjMerge(&f, fjMember(top, "traits"))
			consent := fjMember(ctx, "consent")
			f.consent = fjIsTrue(fjMember(consent, "marketing")) ||
				fjIsTrue(fjMember(fjMember(consent, "categories"), "marketing")) ||
				fjIsTrue(fjMember(fjMember(consent, "canonical"), "marketing"))
			f.leadType = fjString(fjMember(fjMember(top, "properties"), "lead_type"))
			f.url = fjString(fjMember(fjMember(ctx, "page"), "url"))
			f.messageID = fjString(fjMember(top, "messageId"))
			ok = true
		})
		return f, ok
	},
	created: func(body []byte) (string, string) {
		var lead, contact string
		fjTop(body, func(_ envelope, top *fastjson.Value) {
			lead = fjString(fjMember(top, "id"))
			if cs := fjMember(top, "contacts"); cs != nil && cs.Type() == fastjson.TypeArray {
				if a, _ := cs.Array(); len(a) > 0 {
					contact = fjString(fjMember(a[0], "id"))
				}
			}
			if ids := fjMember(top, "contact_ids"); contact == "" && ids != nil && ids.Type() == fastjson.TypeArray {
				if a, _ := ids.Array(); len(a) > 0 {
					contact = fjString(a[0])
				}
			}
		})
		return lead, contact
	},
}

// gjson works on strings; the record is viewed as one without a copy.
// Valid first (Get does not validate), then ForEach so the last duplicate
// wins (Get returns the first). Caveat: gjson.Valid sets no nesting limit.
func gjView(b []byte) string { return unsafe.String(unsafe.SliceData(b), len(b)) }

func gjBytes(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

func gjKind(r gjson.Result) byte {
	switch {
	case r.IsObject():
		return '{'
	case r.Type == gjson.Null:
		return 'n'
	case r.Type == gjson.String:
		return '"'
	}
	return 'x'
}

func gjMember(r gjson.Result, key string) (found gjson.Result) {
	if r.IsObject() {
		r.ForEach(func(k, v gjson.Result) bool {
			if k.Str == key {
				found = v
			}
			return true
		})
	}
	return found
}

func gjString(r gjson.Result) string {
	if r.Type != gjson.String {
		return ""
	}
	return r.Str
}

func gjMerge(f *leadFields, r gjson.Result) {
	if r.IsObject() {
		r.ForEach(func(k, v gjson.Result) bool {
			if dst := f.traitSetter(k.Str); dst != nil && v.Type != gjson.Null && v.Exists() {
				*dst = gjString(v)
			}
			return true
		})
	}
}

func gjTop(data []byte) (env envelope, top gjson.Result, ok bool) {
	s := gjView(data)
	if !gjson.Valid(s) {
		return env, top, false
	}
	top = gjson.Parse(s)
	if !top.IsObject() {
		return env, top, false
	}
	top.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "type":
			env.typ, env.typK, env.typIsString = gjBytes(v.Str), gjKind(v), v.Type == gjson.String
		case "event":
			env.event, env.eventK, env.eventIsString = gjBytes(v.Str), gjKind(v), v.Type == gjson.String
		case "traits":
			env.traitsK = gjKind(v)
		case "properties":
			env.propertiesK = gjKind(v)
		case "context":
			env.contextK = gjKind(v)
		}
		return true
	})
	return env, top, true
}

var gjsonCandidate = candidate{
	name: "gjson",
	drop: func(data []byte) (mapped, ok bool) {
		env, _, ok := gjTop(data)
		if !ok {
			return false, false
		}
		return decide(env)
	},
	lead: func(data []byte) (f leadFields, ok bool) {
		env, top, ok := gjTop(data)
		if !ok {
			return f, false
		}
		if mapped, valid := decide(env); !mapped || !valid {
			return f, false
		}
		ctx := gjMember(top, "context")
		gjMerge(&f, gjMember(ctx, "traits"))
		gjMerge(&f, gjMember(top, "traits"))
		consent := gjMember(ctx, "consent")
		f.consent = gjMember(consent, "marketing").Type == gjson.True ||
			gjMember(gjMember(consent, "categories"), "marketing").Type == gjson.True ||
			gjMember(gjMember(consent, "canonical"), "marketing").Type == gjson.True
		f.leadType = gjString(gjMember(gjMember(top, "properties"), "lead_type"))
		f.url = gjString(gjMember(gjMember(ctx, "page"), "url"))
		f.messageID = gjString(gjMember(top, "messageId"))
		return f, true
	},
	created: func(body []byte) (string, string) {
		s := gjView(body)
		if !gjson.Valid(s) {
			return "", ""
		}
		r := gjson.GetMany(s, "id", "contacts.0.id", "contact_ids.0")
		contact := gjString(r[1])
		if contact == "" {
			contact = gjString(r[2])
		}
		return gjString(r[0]), contact
	},
}

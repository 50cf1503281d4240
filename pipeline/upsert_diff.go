package pipeline

import (
	"bytes"
	"encoding/json"

	"github.com/closesink/closesink/pkg/closeapi"
)

// contactChanges is the PATCH that brings an existing contact in line with
// the event's: a new name or title, and a phone the contact does not have
// yet, sent with every phone it has (Close replaces the list whole). Emails
// are never changed, and an empty value in the event never clears one.
func contactChanges(want closeapi.Contact, have closeapi.FoundContact) closeapi.ContactUpdate {
	var u closeapi.ContactUpdate
	if want.Name != "" && want.Name != have.Name {
		u.Name = &want.Name
	}
	if want.Title != "" && want.Title != have.Title {
		u.Title = &want.Title
	}
	var add []closeapi.Phone
	for _, p := range want.Phones {
		if !hasPhone(have.Phones, p.Phone) && !hasPhone(add, p.Phone) {
			add = append(add, p)
		}
	}
	if len(add) > 0 {
		u.Phones = append(append([]closeapi.Phone(nil), have.Phones...), add...)
	}
	return u
}

func hasPhone(phones []closeapi.Phone, number string) bool {
	for _, p := range phones {
		if p.Phone == number {
			return true
		}
	}
	return false
}

// leadChanges is the PATCH for the lead fields closesink maps that differ:
// url, description and custom fields. The name and status of an existing
// lead are never changed (a salesperson may have set them).
func leadChanges(want *closeapi.Lead, have closeapi.ExistingLead) closeapi.LeadUpdate {
	var u closeapi.LeadUpdate
	if want.URL != "" && want.URL != have.URL {
		u.URL = &want.URL
	}
	if want.Description != "" && want.Description != have.Description {
		u.Description = &want.Description
	}
	for id, v := range want.Custom {
		if old, ok := have.Custom[id]; !ok || !sameJSON(old, v) {
			if u.Custom == nil {
				u.Custom = map[string]json.RawMessage{}
			}
			u.Custom[id] = v
		}
	}
	return u
}

// sameJSON compares two JSON values ignoring insignificant white space.
func sameJSON(a, b json.RawMessage) bool {
	var ca, cb bytes.Buffer
	if json.Compact(&ca, a) != nil || json.Compact(&cb, b) != nil {
		return bytes.Equal(a, b)
	}
	return bytes.Equal(ca.Bytes(), cb.Bytes())
}

// applyContact is have after u.
func applyContact(have closeapi.FoundContact, u closeapi.ContactUpdate) closeapi.FoundContact {
	if u.Name != nil {
		have.Name = *u.Name
	}
	if u.Title != nil {
		have.Title = *u.Title
	}
	if u.Phones != nil {
		have.Phones = u.Phones
	}
	return have
}

// applyLead is have after u.
func applyLead(have closeapi.ExistingLead, u closeapi.LeadUpdate) closeapi.ExistingLead {
	if u.URL != nil {
		have.URL = *u.URL
	}
	if u.Description != nil {
		have.Description = *u.Description
	}
	if len(u.Custom) > 0 {
		c := make(map[string]json.RawMessage, len(have.Custom)+len(u.Custom))
		for id, v := range have.Custom {
			c[id] = v
		}
		for id, v := range u.Custom {
			c[id] = v
		}
		have.Custom = c
	}
	return have
}

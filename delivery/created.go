package delivery

import (
	"errors"

	jsonv2 "github.com/go-json-experiment/json"
	jsonv1 "github.com/go-json-experiment/json/v1"

	"github.com/closesink/closesink/pkg/closeapi"
)

// createdOptions decode with encoding/json's (v1) semantics on the json/v2
// engine: keys match case-insensitively, the last duplicate wins, a null
// leaves a field as it is, invalid UTF-8 becomes U+FFFD and a field of the
// wrong type is skipped while the rest still decode. Those are the rules
// closesink has always read Close's response by (FuzzCreatedIDs compares
// with encoding/json); the engine is about twice as fast as encoding/json
// and allocates 4 times per body instead of 27, which matters because a
// created-lead body is decoded on every delivery.
//
// The project's JSON library is github.com/go-json-experiment/json (see
// transform/jsondec.go and bench/jsoncompare): it replaced a hand-written
// scanner here that was faster still (about 2.8 µs against 6.9 µs per
// created-lead body, encoding/json 14.8 µs) but was 368 lines to maintain
// for two ids; a few microseconds are small next to the HTTP round trip.
var createdOptions = jsonv1.DefaultOptionsV1()

// createdIDs reads the lead id and first contact id from a 2xx body; a body
// that is not JSON yields empty ids.
func createdIDs(body []byte) (leadID, contactID string) {
	return idsOf(decodeCreated(body))
}

// decodeCreated decodes a 2xx body with createdOptions. Like encoding/json's
// callers always did, it takes what is there when a field has the wrong
// type, and nothing when the body is not JSON.
func decodeCreated(body []byte) closeapi.CreatedLead {
	var created closeapi.CreatedLead
	if err := jsonv2.Unmarshal(body, &created, createdOptions); err != nil {
		var typeErr *jsonv1.UnmarshalTypeError
		if !errors.As(err, &typeErr) {
			return closeapi.CreatedLead{}
		}
	}
	return created
}

// idsOf is the created lead's id and its first contact's id: the first
// contact object's when it has one, else the first of contact_ids.
func idsOf(created closeapi.CreatedLead) (leadID, contactID string) {
	switch {
	case len(created.Contacts) > 0 && created.Contacts[0].ID != "":
		contactID = created.Contacts[0].ID
	case len(created.ContactIDs) > 0:
		contactID = created.ContactIDs[0]
	}
	return created.ID, contactID
}

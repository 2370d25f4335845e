package fieldcrypt_test

import (
	"testing"

	"customerd"
	"customerd/fieldcrypt"
)

// The cost of encryption per field and per customer, without any database.
func BenchmarkFieldCrypt(b *testing.B) {
	k, err := fieldcrypt.GenerateMasterKey()
	if err != nil {
		b.Fatal(err)
	}
	v := fieldcrypt.NewVault(k)
	wraps, err := v.NewMerchantKeys("m1")
	if err != nil {
		b.Fatal(err)
	}
	r, err := v.Load("m1", wraps)
	if err != nil {
		b.Fatal(err)
	}
	const email = "customer.name@example.com"
	sealed, _ := r.Seal("cst_om2l6ctlptxwxuzj", customerd.FieldEmailAddress, email)
	c := &customerd.Customer{ID: "cst_om2l6ctlptxwxuzj", MerchantID: "m1", ObjectReferenceID: "customer@gmail.com",
		MobileNumber: "99887766", MobileCountryCode: "65", EmailAddress: email, FirstName: "Jon", LastName: "Snow"}
	sc, _ := r.SealCustomer(c)

	b.Run("seal one field", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Seal(c.ID, customerd.FieldEmailAddress, email); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open one field", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.Open(c.ID, customerd.FieldEmailAddress, sealed); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("blind index", func(b *testing.B) {
		for b.Loop() {
			r.BlindIndex(customerd.FieldObjectReferenceID, c.ObjectReferenceID)
		}
	})
	b.Run("seal customer (5 fields and the index)", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.SealCustomer(c); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("open customer (5 fields)", func(b *testing.B) {
		for b.Loop() {
			if _, err := r.OpenCustomer(&sc); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("unwrap keyring (cold cache)", func(b *testing.B) {
		for b.Loop() {
			if _, err := v.Load("m1", wraps); err != nil {
				b.Fatal(err)
			}
		}
	})
}

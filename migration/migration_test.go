package migration

import (
	"testing"
	"testing/fstest"
)

func TestLoadOrdersByVersion(t *testing.T) {
	fsys := fstest.MapFS{
		"m/0010_b.sql": {Data: []byte("B")},
		"m/0002_a.sql": {Data: []byte("A")},
		"m/README.md":  {Data: []byte("not a migration")},
	}
	got, err := Load(fsys, "m")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got[0] != (Migration{2, "0002_a.sql", "A"}) || got[1] != (Migration{10, "0010_b.sql", "B"}) {
		t.Fatalf("got %+v", got)
	}
}

func TestLoadRejectsBadSets(t *testing.T) {
	for name, fsys := range map[string]fstest.MapFS{
		"no numeric prefix": {"m/init.sql": {}},
		"duplicate version": {"m/0001_a.sql": {}, "m/1_b.sql": {}},
		"empty":             {},
	} {
		if _, err := Load(fsys, "m"); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

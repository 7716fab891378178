package ckantest

import (
	"context"
	"testing"
)

// TestRealSkipsPlainly: without CKANUP_IT_CKAN_URL the real half is skipped,
// not failed.
func TestRealSkipsPlainly(t *testing.T) {
	t.Setenv("CKANUP_IT_CKAN_URL", "")
	t.Setenv("CKANUP_IT_REQUIRE_CKAN", "")
	var sub *testing.T
	t.Run("real", func(t *testing.T) {
		sub = t
		Real(t)
		t.Error("Real returned without a CKAN")
	})
	if !sub.Skipped() {
		t.Error("not skipped")
	}
}

// TestSimulatedDataset: the throwaway dataset helper works on the simulator and
// the dataset is gone after the test.
func TestSimulatedDataset(t *testing.T) {
	s := Simulated(t)
	var name string
	t.Run("make", func(t *testing.T) {
		d := s.Dataset(t)
		name = d.Name
		got, err := s.Client(t, s.EditorToken).PackageShow(context.Background(), d.Name)
		if err != nil || got.OwnerOrg == "" {
			t.Fatalf("%v, %v", got, err)
		}
	})
	if _, err := s.Client(t, s.EditorToken).PackageShow(context.Background(), name); err == nil {
		t.Errorf("dataset %s still there after its test", name)
	}
}

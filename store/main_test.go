package store_test

import (
	"testing"

	"github.com/cxone/appreg/store/storetest"
)

func TestMain(m *testing.M) { storetest.Main(m) }

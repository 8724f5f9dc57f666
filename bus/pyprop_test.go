package bus

import "testing"

func TestPyTryRecoversOnlyPyErrors(t *testing.T) {
	t.Parallel()
	if PyTry(func() { ValueOf([]byte(`{}`)).PyItem("k") }) {
		t.Error("a KeyError completed")
	}
	defer func() {
		if recover() == nil {
			t.Error("a panic that is no PyError was swallowed")
		}
	}()
	PyTry(func() { panic("bug") })
}

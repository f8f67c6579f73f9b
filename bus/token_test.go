package bus

import (
	"encoding/hex"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var hexToken = regexp.MustCompile(`^[0-9a-f]{64}$`)

func skipOnWindows(t *testing.T) {
	t.Helper()
	if runtime.GOOS == "windows" {
		t.Skip("file modes are not Unix modes on Windows")
	}
}

func TestTokenNew(t *testing.T) {
	a, b := NewToken(), NewToken()
	assert.Regexp(t, hexToken, a)
	assert.Regexp(t, hexToken, b)
	assert.NotEqual(t, a, b)
	raw, err := hex.DecodeString(a)
	require.NoError(t, err)
	assert.Len(t, raw, 32)
}

func TestTokenCreateThenLoad(t *testing.T) {
	skipOnWindows(t)
	path := filepath.Join(t.TempDir(), "token")

	tok, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Regexp(t, hexToken, tok)

	fi, err := os.Stat(path)
	require.NoError(t, err)
	assert.Equal(t, os.FileMode(0o600), fi.Mode().Perm())
	assert.True(t, fi.Mode().IsRegular())
	data, err := os.ReadFile(path)
	require.NoError(t, err)
	assert.Equal(t, tok+"\n", string(data))

	again, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Equal(t, tok, again)
}

func TestTokenCreatesParentDirs(t *testing.T) {
	skipOnWindows(t)
	root := t.TempDir()
	path := filepath.Join(root, "x", "y", "token")

	tok, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Regexp(t, hexToken, tok)
	for _, dir := range []string{filepath.Join(root, "x"), filepath.Join(root, "x", "y")} {
		fi, err := os.Stat(dir)
		require.NoError(t, err)
		assert.True(t, fi.IsDir())
		assert.Equal(t, os.FileMode(0o700), fi.Mode().Perm(), dir)
	}
}

func TestTokenLoadsExisting(t *testing.T) {
	skipOnWindows(t)
	for name, content := range map[string]string{
		"plain":           "secret",
		"newline":         "secret\n",
		"spaces":          "  secret \r\n\n",
		"not hex is fine": "secret",
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			require.NoError(t, os.Chmod(path, 0o600))
			tok, err := LoadOrCreateToken(path)
			require.NoError(t, err)
			assert.Equal(t, "secret", tok)
		})
	}

	// Owner-only modes other than 0600 are fine too.
	path := filepath.Join(t.TempDir(), "token")
	require.NoError(t, os.WriteFile(path, []byte("ro"), 0o400))
	require.NoError(t, os.Chmod(path, 0o400))
	tok, err := LoadOrCreateToken(path)
	require.NoError(t, err)
	assert.Equal(t, "ro", tok)
}

func TestTokenRefusesOpenModes(t *testing.T) {
	skipOnWindows(t)
	for _, mode := range []os.FileMode{0o644, 0o640, 0o604, 0o660, 0o606, 0o666, 0o777} {
		path := filepath.Join(t.TempDir(), "token")
		require.NoError(t, os.WriteFile(path, []byte("secret\n"), 0o600))
		require.NoError(t, os.Chmod(path, mode))

		tok, err := LoadOrCreateToken(path)
		require.Error(t, err, "mode %v", mode)
		assert.Empty(t, tok)
		assert.Contains(t, err.Error(), "chmod 600 "+path, "mode %v", mode)
		assert.Contains(t, err.Error(), mode.String())

		// The file is left alone.
		data, err := os.ReadFile(path)
		require.NoError(t, err)
		assert.Equal(t, "secret\n", string(data))
	}
}

func TestTokenRefusesEmptyFile(t *testing.T) {
	skipOnWindows(t)
	for name, content := range map[string]string{"empty": "", "blank": " \n\t\n"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "token")
			require.NoError(t, os.WriteFile(path, []byte(content), 0o600))
			tok, err := LoadOrCreateToken(path)
			require.Error(t, err)
			assert.Empty(t, tok)
			assert.Contains(t, err.Error(), "is empty")

			// Not overwritten with a fresh token either.
			data, err := os.ReadFile(path)
			require.NoError(t, err)
			assert.Equal(t, content, string(data))
		})
	}
}

func TestTokenPathErrors(t *testing.T) {
	skipOnWindows(t)
	dir := t.TempDir()

	// A directory where the file should be.
	sub := filepath.Join(dir, "sub")
	require.NoError(t, os.Mkdir(sub, 0o700))
	_, err := LoadOrCreateToken(sub)
	assert.Error(t, err)

	// A regular file where a parent directory should be.
	file := filepath.Join(dir, "file")
	require.NoError(t, os.WriteFile(file, []byte("x"), 0o600))
	_, err = LoadOrCreateToken(filepath.Join(file, "token"))
	assert.Error(t, err)
	assert.Contains(t, err.Error(), "bus: token file")
}

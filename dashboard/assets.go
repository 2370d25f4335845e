package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
)

//go:embed assets
var assetFiles embed.FS

// asset is one embedded file, ready to serve.
type asset struct {
	body        []byte
	contentType string
}

// assets are the embedded files by name, and assetVersion a hash of them
// all: page links carry it, so that a browser may keep an asset for good
// and still loads the new one after an upgrade.
var assets, assetVersion = func() (map[string]asset, string) {
	out := map[string]asset{}
	all := sha256.New()
	entries, err := fs.ReadDir(assetFiles, "assets")
	if err != nil {
		panic(err)
	}
	for _, e := range entries {
		b, err := assetFiles.ReadFile("assets/" + e.Name())
		if err != nil {
			panic(err)
		}
		all.Write([]byte(e.Name()))
		all.Write(b)
		ct := mime.TypeByExtension(path.Ext(e.Name()))
		out[e.Name()] = asset{body: b, contentType: ct}
	}
	return out, hex.EncodeToString(all.Sum(nil))[:12]
}()

// assetURL is the address of the asset name in a page.
func assetURL(name string) string { return Prefix + "assets/" + name + "?v=" + assetVersion }

// serveAsset serves an embedded file. It needs no session: the files hold
// nothing of a merchant's.
func (h *Handler) serveAsset(w http.ResponseWriter, r *http.Request) {
	a, ok := assets[r.PathValue("name")]
	if !ok {
		h.renderError(w, r, nil, http.StatusNotFound, "There is no such file.")
		return
	}
	hdr := w.Header()
	hdr.Set("Content-Type", a.contentType)
	hdr.Set("Cache-Control", "public, max-age=31536000, immutable")
	_, _ = w.Write(a.body)
}

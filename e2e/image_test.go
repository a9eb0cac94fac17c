package e2e

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"time"
)

// buildBinaries compiles mitosis, loadgen and guardprobe statically into
// dir.
func buildBinaries(dir string) error {
	for out, pkg := range map[string]string{"mitosis": ".", "loadgen": "./examples/loadgen", "guardprobe": "./e2e/guardprobe"} {
		if err := goBuildStatic(dir, out, pkg); err != nil {
			return err
		}
	}
	return nil
}

// imageArchive writes, without any Docker daemon, the archive `docker
// save` would make of the suite's FROM-scratch image: one layer holding
// /mitosis, /loadgen and /guardprobe from dir, the same entry point, ports and health
// check as build's Dockerfile, tagged tag. `docker load -i` reads it.
func imageArchive(dir, tag string) (string, error) {
	var layer bytes.Buffer
	tw := tar.NewWriter(&layer)
	for _, name := range []string{"mitosis", "loadgen", "guardprobe"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			return "", err
		}
		hdr := &tar.Header{Name: name, Mode: 0o755, Size: int64(len(b)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := tw.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := tw.Write(b); err != nil {
			return "", err
		}
	}
	if err := tw.Close(); err != nil {
		return "", err
	}
	diffID := sha256.Sum256(layer.Bytes())
	config, err := json.Marshal(map[string]any{
		"architecture": "amd64",
		"os":           "linux",
		"config": map[string]any{
			"Entrypoint":   []string{"/mitosis"},
			"ExposedPorts": map[string]any{"8080/tcp": struct{}{}, "9090/tcp": struct{}{}},
			"Healthcheck": map[string]any{
				"Test": []string{"CMD", "/mitosis", "healthcheck"}, "Interval": 2 * time.Second, "Timeout": 2 * time.Second, "Retries": 3,
			},
		},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{"sha256:" + hex.EncodeToString(diffID[:])}},
	})
	if err != nil {
		return "", err
	}
	configID := sha256.Sum256(config)
	configName := hex.EncodeToString(configID[:]) + ".json"
	layerName := hex.EncodeToString(diffID[:]) + "/layer.tar"
	manifest, err := json.Marshal([]map[string]any{{"Config": configName, "RepoTags": []string{tag}, "Layers": []string{layerName}}})
	if err != nil {
		return "", err
	}
	path := filepath.Join(dir, "image.tar")
	f, err := os.Create(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	out := tar.NewWriter(f)
	if err := out.WriteHeader(&tar.Header{Name: hex.EncodeToString(diffID[:]) + "/", Mode: 0o755, ModTime: time.Unix(0, 0), Typeflag: tar.TypeDir}); err != nil {
		return "", err
	}
	for _, e := range []struct {
		name string
		body []byte
	}{{configName, config}, {layerName, layer.Bytes()}, {"manifest.json", manifest}} {
		hdr := &tar.Header{Name: e.name, Mode: 0o644, Size: int64(len(e.body)), ModTime: time.Unix(0, 0), Typeflag: tar.TypeReg}
		if err := out.WriteHeader(hdr); err != nil {
			return "", err
		}
		if _, err := out.Write(e.body); err != nil {
			return "", err
		}
	}
	if err := out.Close(); err != nil {
		return "", err
	}
	return path, f.Close()
}

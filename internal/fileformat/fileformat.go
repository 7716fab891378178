// Package fileformat names a file's CKAN format and MIME type from its extension.
package fileformat

import (
	"mime"
	"path/filepath"
	"strings"
)

type entry struct{ format, mimetype string }

// known extensions, checked before the system MIME table so results do not
// depend on the machine.
var known = map[string]entry{
	".csv":     {"CSV", "text/csv"},
	".tsv":     {"TSV", "text/tab-separated-values"},
	".txt":     {"TXT", "text/plain"},
	".json":    {"JSON", "application/json"},
	".jsonl":   {"JSONL", "application/jsonl"},
	".ndjson":  {"NDJSON", "application/x-ndjson"},
	".geojson": {"GeoJSON", "application/geo+json"},
	".xml":     {"XML", "application/xml"},
	".rdf":     {"RDF", "application/rdf+xml"},
	".zip":     {"ZIP", "application/zip"},
	".gz":      {"GZ", "application/gzip"},
	".tgz":     {"TGZ", "application/gzip"},
	".bz2":     {"BZ2", "application/x-bzip2"},
	".xz":      {"XZ", "application/x-xz"},
	".zst":     {"ZST", "application/zstd"},
	".7z":      {"7Z", "application/x-7z-compressed"},
	".tar":     {"TAR", "application/x-tar"},
	".parquet": {"PARQUET", "application/vnd.apache.parquet"},
	".avro":    {"AVRO", "application/avro"},
	".orc":     {"ORC", "application/octet-stream"},
	".arrow":   {"ARROW", "application/vnd.apache.arrow.file"},
	".feather": {"FEATHER", "application/vnd.apache.arrow.file"},
	".xls":     {"XLS", "application/vnd.ms-excel"},
	".xlsx":    {"XLSX", "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"},
	".ods":     {"ODS", "application/vnd.oasis.opendocument.spreadsheet"},
	".pdf":     {"PDF", "application/pdf"},
	".doc":     {"DOC", "application/msword"},
	".docx":    {"DOCX", "application/vnd.openxmlformats-officedocument.wordprocessingml.document"},
	".html":    {"HTML", "text/html"},
	".htm":     {"HTML", "text/html"},
	".md":      {"MD", "text/markdown"},
	".kml":     {"KML", "application/vnd.google-earth.kml+xml"},
	".kmz":     {"KMZ", "application/vnd.google-earth.kmz"},
	".shp":     {"SHP", "application/octet-stream"},
	".gpkg":    {"GPKG", "application/geopackage+sqlite3"},
	".tif":     {"TIFF", "image/tiff"},
	".tiff":    {"TIFF", "image/tiff"},
	".nc":      {"NetCDF", "application/x-netcdf"},
	".h5":      {"HDF5", "application/x-hdf5"},
	".hdf5":    {"HDF5", "application/x-hdf5"},
	".sqlite":  {"SQLite", "application/vnd.sqlite3"},
	".db":      {"SQLite", "application/vnd.sqlite3"},
	".png":     {"PNG", "image/png"},
	".jpg":     {"JPEG", "image/jpeg"},
	".jpeg":    {"JPEG", "image/jpeg"},
	".gif":     {"GIF", "image/gif"},
	".svg":     {"SVG", "image/svg+xml"},
	".yaml":    {"YAML", "application/yaml"},
	".yml":     {"YAML", "application/yaml"},
	".sql":     {"SQL", "application/sql"},
}

// Of returns the CKAN format (e.g. "CSV") and MIME type of a file name. Unknown
// extensions give the upper-cased extension (or "") and application/octet-stream.
func Of(name string) (format, mimetype string) {
	ext := strings.ToLower(filepath.Ext(name))
	if e, ok := known[ext]; ok {
		return e.format, e.mimetype
	}
	mt := "application/octet-stream"
	if t := mime.TypeByExtension(ext); t != "" {
		mt = t
		if i := strings.IndexByte(mt, ';'); i >= 0 {
			mt = strings.TrimSpace(mt[:i])
		}
	}
	return strings.ToUpper(strings.TrimPrefix(ext, ".")), mt
}

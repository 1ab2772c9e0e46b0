package registry

import "strings"

// fileStores are the places where services keep the data an API call is
// about, longest prefix first where they nest: what a file there is.
var fileStores = []struct{ prefix, what string }{
	{"/var/lib/glance/images/", "image"},                 // glance's file store (filesystem_store_datadir)
	{"/var/lib/glance/staging/", "staged image"},         // glance's import staging area
	{"/var/lib/glance/image-cache/", "cached image"},     // glance's image cache
	{"/var/lib/nova/instances/", "instance disk"},        // nova's instances_path
	{"/var/lib/cinder/", "volume data"},                  // cinder's state path (NFS mounts, conversion)
	{"/etc/keystone/fernet-keys/", "fernet key"},         // keystone's token keys
	{"/etc/keystone/credential-keys/", "credential key"}, // keystone's credential keys
}

// ServiceFile tells whether path is one of a service's own files a person
// would draw under the request that touched it (the image store, the
// service's config, policy and key files, its state directory) and what it
// is ("image", "fernet key", "config"); anything else (Python modules,
// /proc, /etc/hosts, logs, libraries) is the process's housekeeping.
func ServiceFile(path string) (what string, ok bool) {
	for _, s := range fileStores {
		if strings.HasPrefix(path, s.prefix) && len(path) > len(s.prefix) {
			return s.what, true
		}
	}
	for _, s := range services {
		if strings.HasPrefix(path, "/etc/"+s.Name+"/") {
			return "config", true
		}
		if strings.HasPrefix(path, "/var/lib/"+s.Name+"/") {
			return "state", true
		}
	}
	return "", false
}

// Package registry is flowmap's one table of OpenStack knowledge: each
// service's name, API ports, path prefixes, catalog types, DB schemas and
// tables, plus the clients, cache key families and secret-bearing fields
// the control plane uses. flow reads it to recognise services, token
// validations and cache keys; cmd hands its ports and secret fields to the
// decoders, which keep only protocol facts. Adding a service is a data
// change here.
package registry

import (
	"slices"
	"strings"

	"github.com/flowmap/flowmap/decoder"
)

// Service is what identifies one OpenStack service on the wire.
type Service struct {
	// Name is how flowmap names the service, its keystone user, its
	// User-Agent's first word ("glance/25.1.0 keystonemiddleware…") and,
	// unless DBSchemas says otherwise, its DB login and schema.
	Name string
	// Ports are its usual API ports.
	Ports []uint16
	// Paths are API path prefixes only this service serves.
	Paths []string
	// CatalogTypes are its types in keystone's service catalog.
	CatalogTypes []string
	// DBSchemas are its database (and DB login) names, when they differ
	// from Name.
	DBSchemas []string
	// DBTables are tables only this service's schema has, to tell whose a
	// pooled DB connection is when its login was not captured.
	DBTables []string
	// UserAgents are first words of its User-Agent other than Name
	// (nova-api's keystonemiddleware says "nova/26.2.2 …").
	UserAgents []string
	// RPCTopics are the oslo.messaging topics it consumes: a message
	// delivered with routing key "compute" or "compute.<host>", or on the
	// fanout exchange "compute_fanout", is for it.
	RPCTopics []string
	// Processes are the names its processes give themselves: the first
	// field of an AMQP connection_name ("nova-compute:1234:<uuid>").
	Processes []string
	// SchemaTables name, for a service whose DB has several schemas, the
	// tables of each (nova_api's build_requests, the cell DB's instances):
	// its DB work is drawn to the schema's DB ("nova_api DB").
	SchemaTables map[string][]string
	// RPCMethods are methods that only this service publishes as RPC
	// (nova-api casts schedule_and_build_instances), to tell who is behind
	// an AMQP connection that consumes nothing.
	RPCMethods []string
}

// services is the registry. Read-only: accessors return copies or values.
var services = [...]Service{
	{Name: "keystone", Ports: []uint16{5000, 35357}, CatalogTypes: []string{"identity"},
		Paths: []string{"/v3/auth/", "/v3/users", "/v3/projects", "/v3/domains", "/v3/roles",
			"/v3/services", "/v3/endpoints", "/v3/credentials", "/v3/groups", "/v3/regions",
			"/v3/role_assignments", "/v3/OS-", "/identity"},
		DBTables: []string{"local_user", "password", "assignment", "role", "implied_role", "project",
			"project_tag", "revocation_event", "endpoint", "service", "region", "federated_user",
			"nonlocal_user", "user_option", "system_assignment", "application_credential", "access_rule",
			"credential", "id_mapping", "trust", "expiring_user_group_membership", "user_group_membership",
			"project_endpoint", "registered_limit"}},
	{Name: "glance", Ports: []uint16{9292}, CatalogTypes: []string{"image"},
		Paths: []string{"/v2/images", "/v2/schemas/image", "/v2/info/", "/v2/stores", "/v2/tasks", "/v2/metadefs", "/image"},
		DBTables: []string{"images", "image_properties", "image_locations", "image_members", "image_tags",
			"metadef_namespaces", "metadef_objects", "tasks", "task_info", "node_reference", "cached_images"}},
	{Name: "nova-api", Ports: []uint16{8774}, CatalogTypes: []string{"compute"},
		Paths: []string{"/v2.1/", "/compute"}, UserAgents: []string{"nova"}, Processes: []string{"nova-api"},
		// Not here, as others publish them too: build_instances and
		// stop_instance (nova-compute: reschedule, power-state sync),
		// rebuild_instance and unshelve_instance (nova-conductor).
		RPCMethods: []string{"schedule_and_build_instances", "terminate_instance",
			"start_instance", "reboot_instance", "soft_delete_instance", "pause_instance",
			"unpause_instance", "suspend_instance", "resume_instance", "migrate_server", "live_migrate_instance",
			"shelve_instance", "get_console_output", "attach_interface", "detach_interface",
			"reserve_block_device_name", "attach_volume", "detach_volume"}},
	// nova's processes share its DB login and schemas: DB work of a nova
	// process whose process flowmap cannot tell is nova's.
	{Name: "nova", DBSchemas: []string{"nova", "nova_api", "nova_cell0"},
		DBTables: []string{"instances", "compute_nodes", "instance_extra", "block_device_mapping", "build_requests", "request_specs", "cell_mappings", "host_mappings", "instance_mappings"},
		SchemaTables: map[string][]string{
			"nova_api": {"build_requests", "request_specs", "cell_mappings", "host_mappings", "instance_mappings",
				"flavors", "flavor_extra_specs", "flavor_projects", "key_pairs", "instance_groups",
				"instance_group_member", "instance_group_policy", "aggregates", "aggregate_hosts",
				"aggregate_metadata", "quotas", "quota_classes", "project_user_quotas", "quota_usages", "reservations"},
			// the cell DBs (nova_cell0 has the same tables: only a login tells it)
			"nova": {"instances", "instance_extra", "instance_system_metadata", "instance_metadata",
				"instance_info_caches", "instance_faults", "instance_actions", "instance_actions_events",
				"block_device_mapping", "compute_nodes", "services", "migrations", "instance_id_mappings",
				"security_groups", "security_group_instance_association", "virtual_interfaces", "tags",
				"pci_devices", "console_auth_tokens"},
		}},
	{Name: "nova-conductor", RPCTopics: []string{"conductor"}, Processes: []string{"nova-conductor"}},
	{Name: "nova-scheduler", RPCTopics: []string{"scheduler"}, Processes: []string{"nova-scheduler"}},
	{Name: "nova-compute", RPCTopics: []string{"compute"}, Processes: []string{"nova-compute"}},
	{Name: "nova-metadata", Ports: []uint16{8775}},
	{Name: "nova-novncproxy", Ports: []uint16{6080}},
	{Name: "neutron", Ports: []uint16{9696}, CatalogTypes: []string{"network"},
		Paths:    []string{"/v2.0/networks", "/v2.0/ports", "/v2.0/subnets", "/v2.0/routers", "/v2.0/floatingips", "/v2.0/security-groups", "/networking"},
		DBTables: []string{"networks", "ports", "subnets", "routers", "securitygroups", "ml2_port_bindings"}},
	{Name: "cinder", Ports: []uint16{8776}, CatalogTypes: []string{"block-storage", "volumev3", "volumev2", "volume"},
		Paths: []string{"/volume"}, DBTables: []string{"volumes", "snapshots", "volume_attachment"}},
	{Name: "cinder-scheduler", RPCTopics: []string{"cinder-scheduler"}, Processes: []string{"cinder-scheduler"}},
	{Name: "cinder-volume", RPCTopics: []string{"cinder-volume"}, Processes: []string{"cinder-volume"}},
	{Name: "placement", Ports: []uint16{8778}, CatalogTypes: []string{"placement"},
		Paths:    []string{"/resource_providers", "/allocations", "/allocation_candidates", "/resource_classes", "/traits", "/usages", "/placement"},
		DBTables: []string{"resource_providers", "allocations", "inventories", "resource_classes", "consumers"}},
	{Name: "heat", Ports: []uint16{8004}, CatalogTypes: []string{"orchestration"}},
	{Name: "heat-cfn", Ports: []uint16{8000}, CatalogTypes: []string{"cloudformation"}},
	{Name: "swift", Ports: []uint16{8080}, CatalogTypes: []string{"object-store"}},
	{Name: "barbican", Ports: []uint16{9311}, CatalogTypes: []string{"key-manager"}},
	{Name: "octavia", Ports: []uint16{9876}, CatalogTypes: []string{"load-balancer"}},
	{Name: "ironic", Ports: []uint16{6385}, CatalogTypes: []string{"baremetal"}},
	{Name: "designate", Ports: []uint16{9001}, CatalogTypes: []string{"dns"}},
	{Name: "magnum", Ports: []uint16{9511}, CatalogTypes: []string{"container-infra"}},
	{Name: "aodh", Ports: []uint16{8042}, CatalogTypes: []string{"alarming"}},
	{Name: "gnocchi", Ports: []uint16{8041}, CatalogTypes: []string{"metric"}},
	{Name: "ceilometer", Ports: []uint16{9890}},
	{Name: "panko", Ports: []uint16{8977}, CatalogTypes: []string{"event"}},
	{Name: "sahara", Ports: []uint16{8386}, CatalogTypes: []string{"data-processing"}},
	{Name: "trove", Ports: []uint16{8779}, CatalogTypes: []string{"database"}},
	{Name: "cyborg", Ports: []uint16{8780}, CatalogTypes: []string{"accelerator"}},
	{Name: "masakari", Ports: []uint16{8782}, CatalogTypes: []string{"instance-ha"}},
	{Name: "manila", Ports: []uint16{8786}, CatalogTypes: []string{"shared-file-system", "sharev2"}},
	{Name: "zun", Ports: []uint16{9517}, CatalogTypes: []string{"container"}},
	{Name: "senlin", Ports: []uint16{8777}, CatalogTypes: []string{"clustering"}},
	{Name: "horizon"},
}

// Services returns a copy of every entry.
func Services() []Service { return slices.Clone(services[:]) }

// Known reports whether name is a service's name (as a keystone user, a
// User-Agent's first word or a DB login).
func Known(name string) bool {
	for i := range services {
		if services[i].Name == name {
			return true
		}
	}
	return false
}

// ByPort is the service whose usual API port is port, or "".
func ByPort(port uint16) string {
	for i := range services {
		if slices.Contains(services[i].Ports, port) {
			return services[i].Name
		}
	}
	return ""
}

// HTTPPorts are the API ports of every service, for the HTTP decoder to
// claim connections whose start it did not see.
func HTTPPorts() []uint16 {
	var ps []uint16
	for i := range services {
		ps = append(ps, services[i].Ports...)
	}
	return ps
}

// ByPath is the service that serves a request path (without its query),
// or "".
func ByPath(path string) string {
	for i := range services {
		for _, p := range services[i].Paths {
			if strings.HasPrefix(path, p) {
				return services[i].Name
			}
		}
	}
	return ""
}

// ByCatalogType is the service of a keystone catalog type ("image" is
// glance), or "".
func ByCatalogType(t string) string {
	for i := range services {
		if slices.Contains(services[i].CatalogTypes, t) {
			return services[i].Name
		}
	}
	return ""
}

// ByDBName is the service whose DB login or schema is name, or "".
func ByDBName(name string) string {
	for i := range services {
		s := &services[i]
		if slices.Contains(s.DBSchemas, name) || len(s.DBSchemas) == 0 && s.Name == name {
			return s.Name
		}
	}
	return ""
}

// ByTable is the service whose schema alone has table (lower case), or "".
func ByTable(table string) string {
	for i := range services {
		if slices.Contains(services[i].DBTables, table) {
			return services[i].Name
		}
	}
	return ""
}

// ByUserAgent is the service a User-Agent names by its first word:
// "glance/25.1.0 keystonemiddleware.auth_token/10.1.0 …" is glance, with a
// version (a service names itself with its version; a CLI such as
// glance's sends "glance keystoneauth1/…").
func ByUserAgent(ua string) (name string, versioned bool) {
	first, _, _ := strings.Cut(ua, " ")
	name, _, versioned = strings.Cut(first, "/")
	name = strings.ToLower(name)
	for i := range services {
		if slices.Contains(services[i].UserAgents, name) {
			return services[i].Name, versioned
		}
	}
	if Known(name) {
		return name, versioned
	}
	return "", false
}

// clients name outside callers by a word of their User-Agent, first match
// wins.
var clients = [...]struct{ ua, name string }{
	{"python-openstackclient", "OpenStackClient"},
	{"openstacksdk", "OpenStackClient"},
	{"python-glanceclient", "glanceclient"},
	{"python-novaclient", "novaclient"},
	{"python-cinderclient", "cinderclient"},
	{"python-neutronclient", "neutronclient"},
}

// Client names an outside caller from its User-Agent ("" when unknown):
// the OpenStack CLIs, curl, a browser.
func Client(ua string) string {
	l := strings.ToLower(ua)
	for _, c := range clients {
		if strings.Contains(l, c.ua) {
			return c.name
		}
	}
	switch {
	case strings.HasPrefix(l, "curl/"):
		return "curl"
	case strings.Contains(l, "mozilla"):
		return "browser"
	}
	return ""
}

// tokensPath is keystone's token API: POST issues a token, GET and HEAD
// validate the one in X-Subject-Token.
const tokensPath = "/auth/tokens"

// Headers keystone's token API uses.
const (
	AuthTokenHeader    = "X-Auth-Token"    // the caller's own token
	SubjectTokenHeader = "X-Subject-Token" // the token issued or under validation
	// ServiceTokenHeader is the calling service's own token, sent beside
	// the user's (nova → glance, neutron, cinder): the server validates
	// both.
	ServiceTokenHeader = "X-Service-Token"
)

// splitPath is target without its query.
func splitPath(target string) string {
	p, _, _ := strings.Cut(target, "?")
	return p
}

// Authentication reports whether method and target ask keystone for a
// token.
func Authentication(method, target string) bool {
	return method == "POST" && strings.HasSuffix(splitPath(target), tokensPath)
}

// Validation reports whether method and target ask keystone to validate a
// token.
func Validation(method, target string) bool {
	return (method == "GET" || method == "HEAD") && strings.HasSuffix(splitPath(target), tokensPath)
}

// Revocation reports whether method and target revoke the token in
// X-Subject-Token (keystone's DELETE /v3/auth/tokens).
func Revocation(method, target string) bool {
	return method == "DELETE" && strings.HasSuffix(splitPath(target), tokensPath)
}

// discovery are the paths of version documents.
var discovery = [...]string{"", "/v2", "/v2.0", "/v2.1", "/v3", "/identity", "/identity/v3", "/image", "/compute"}

// Discovery reports whether method and target fetch a version document
// (GET / or GET /v3): static, no DB behind it.
func Discovery(method, target string) bool {
	return method == "GET" && slices.Contains(discovery[:], strings.TrimSuffix(splitPath(target), "/"))
}

// TokenCacheKey returns the hex SHA-256 (or, under keystonemiddleware's
// MAC/ENCRYPT strategies, the HMAC-derived name) of the token a memcache
// key of keystonemiddleware's token cache is about.
func TokenCacheKey(key string) (string, bool) {
	return strings.CutPrefix(key, "tokens/")
}

// Secrets is the list of credential fields the decoders redact.
func Secrets() *decoder.Secrets {
	return &decoder.Secrets{Headers: SecretHeaders(), Fields: SecretFields(), Nested: SecretNestedFields(), Bodies: SecretBodies()}
}

// SecretBodies are the paths whose non-JSON bodies are a credential whole:
// barbican's secret as stored in two steps (PUT /v1/secrets/<id> with the
// payload as text/plain or octet-stream) and as fetched (GET
// /v1/secrets/<id>/payload, or /v1/secrets/<id> accepting text/plain).
func SecretBodies() []string { return []string{"/v1/secrets/*", "/v1/secrets/*/payload"} }

// SecretHeaders are the OpenStack headers whose whole value is a
// credential (HTTP's own, Authorization and Cookie, are the decoder's).
func SecretHeaders() []string {
	return []string{AuthTokenHeader, SubjectTokenHeader, ServiceTokenHeader, "X-Storage-Token",
		"X-Auth-Key", "X-Storage-Pass"}
}

// SecretFields are JSON and form body keys whose string value is a
// credential in OpenStack APIs: passwords (keystone, nova's adminPass),
// secrets (application credentials, OAuth), TOTP passcodes, tokens,
// barbican's secret payload ({"payload": "…"} when a secret is stored;
// oslo notifications' "payload" is an object, not a string: kept), and
// nova's user_data (the cloud-init a server boots with, as created and as
// shown to admins: passwords and keys are commonly in it).
func SecretFields() []string {
	return []string{"password", "original_password", "new_password", "adminpass", "admin_password",
		"secret", "client_secret", "passcode", "token", "payload", "user_data", "OS-EXT-SRV-ATTR:user_data"}
}

// SecretNestedFields are keys that hold a credential only inside an object
// under the parent key: keystone's token auth method sends
// {"token": {"id": "<token>"}}; nova's file injection sends
// {"personality": [{"path": "…", "contents": "<base64>"}]}; keystone's
// credentials API carries the credential itself in "blob" (a TOTP seed, a
// certificate's key, EC2's access and secret as JSON in a string), as
// {"credential": {…}} and, listed, {"credentials": [{…}]}.
func SecretNestedFields() [][2]string {
	return [][2]string{{"token", "id"}, {"personality", "contents"}, {"credential", "blob"}, {"credentials", "blob"}}
}

// Broker is the participant name of the message broker (RabbitMQ speaks
// AMQP 0-9-1 on 5672).
const Broker = "RabbitMQ"

// ByRPCTopic is the service that consumes messages published on exchange
// with routingKey: the topic is the routing key up to its first "." (a
// server's own queue "compute.<host>"), or the fanout exchange's name
// without "_fanout". "" when unknown (a reply queue, another topic).
func ByRPCTopic(exchange, routingKey string) string {
	topic, _, _ := strings.Cut(routingKey, ".")
	if f, ok := strings.CutSuffix(exchange, "_fanout"); ok {
		topic = f
	}
	if topic == "" {
		return ""
	}
	for i := range services {
		if slices.Contains(services[i].RPCTopics, topic) {
			return services[i].Name
		}
	}
	return ""
}

// ByProcess is the service whose process names itself by the first field
// of an AMQP connection_name ("nova-compute:1234:<uuid>"), or "" (uWSGI
// workers say "uwsgi").
func ByProcess(connectionName string) string {
	p, _, _ := strings.Cut(connectionName, ":")
	for i := range services {
		if slices.Contains(services[i].Processes, p) {
			return services[i].Name
		}
	}
	return ""
}

// ByRPCMethod is the only service that publishes RPC method, or "".
func ByRPCMethod(method string) string {
	for i := range services {
		if slices.Contains(services[i].RPCMethods, method) {
			return services[i].Name
		}
	}
	return ""
}

// Members are the services of a family that shares one DB login ("nova":
// nova-api, nova-conductor, ...): those named family + "-".
func Members(family string) []string {
	var out []string
	for i := range services {
		if strings.HasPrefix(services[i].Name, family+"-") {
			out = append(out, services[i].Name)
		}
	}
	return out
}

// DBOwner is whose database a service's DB work is on: the family's
// ("nova") when the service is one of the processes that share its DB
// login (nova-api, nova-conductor, ...), else the service's own.
func DBOwner(service string) string {
	if f, _, ok := strings.Cut(service, "-"); ok {
		for i := range services {
			if services[i].Name == f && len(services[i].DBSchemas) > 0 {
				return f
			}
		}
	}
	return service
}

// Schema is the schema of a service family's DB that table belongs to
// (SchemaTables), or "".
func Schema(service, table string) string {
	for i := range services {
		if services[i].Name != service {
			continue
		}
		for schema, tables := range services[i].SchemaTables {
			if slices.Contains(tables, table) {
				return schema
			}
		}
	}
	return ""
}

// HasSchemas reports whether service's DB is drawn schema by schema.
func HasSchemas(service string) bool {
	for i := range services {
		if services[i].Name == service {
			return len(services[i].SchemaTables) > 0
		}
	}
	return false
}

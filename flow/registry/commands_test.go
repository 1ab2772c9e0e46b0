package registry

import "testing"

func TestCommand(t *testing.T) {
	type req struct{ method, target string }
	cases := []struct {
		name string
		reqs []req
		want string
	}{
		{"image-list", []req{{"GET", "/v2/images"}}, "image list"},
		{"image-save", []req{{"GET", "/v2/images/cirros"}, {"GET", "/v2/images?name=cirros"},
			{"GET", "/v2/images/59153cd7-096f-4ecd-bab0-d185f54de134/file"}}, "image save cirros"},
		{"image-create", []req{{"POST", "/v2/images"}, {"PUT", "/v2/images/17adf5f0-516f-4204-b68b-eeb28e8a52da/file"}}, "image create"},
		{"image-delete", []req{{"GET", "/v2/images/up1"}, {"GET", "/v2/images?name=up1"},
			{"DELETE", "/v2/images/17adf5f0-516f-4204-b68b-eeb28e8a52da"}}, "image delete up1"},
		{"glanceclient-list", []req{{"GET", "/v2/images?limit=200&sort_key=name&sort_dir=asc"}, {"GET", "/v2/schemas/image"}}, "image list"},
		{"user-list", []req{{"GET", "/v3/users"}}, "user list"},
		{"nova-project-path", []req{{"GET", "/v2.1/0123456789abcdef0123456789abcdef/servers/detail"}}, "server list"},
		{"server-show", []req{{"GET", "/v2.1/servers/vm1"}}, "server show vm1"},
		{"security-groups", []req{{"GET", "/v2.0/security-groups"}}, "security group list"},
		{"policies", []req{{"GET", "/v3/policies"}}, "policy list"},
		{"token-only", []req{{"POST", "/v3/auth/tokens"}}, "token issue"},
		{"discovery-only", []req{{"GET", "/"}, {"GET", "/v3"}}, ""},
		{"metadata-only", []req{{"GET", "/v2/schemas/image"}}, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var calls []Call
			for _, r := range c.reqs {
				if call, ok := ParseCall(r.method, r.target); ok {
					calls = append(calls, call)
				}
			}
			if got := Command(calls); got != c.want {
				t.Errorf("Command = %q, want %q (calls %+v)", got, c.want, calls)
			}
		})
	}
}

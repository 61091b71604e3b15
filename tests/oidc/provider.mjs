// A real OpenID Connect provider (node's oidc-provider) for tests/gateway/test_oidc.py.
// Configured by the environment: PORT, OIDC_CLIENTS (JSON list of client metadata) and
// OIDC_ACCOUNTS (JSON: login -> claims). Its development interactions (a login form that
// takes any registered login, then a consent form) stand in for 企业微信 / 钉钉's pages.
import Provider from 'oidc-provider';

const port = Number(process.env.PORT);
const issuer = `http://127.0.0.1:${port}`;
const accounts = JSON.parse(process.env.OIDC_ACCOUNTS);

const provider = new Provider(issuer, {
  clients: JSON.parse(process.env.OIDC_CLIENTS),
  async findAccount(ctx, sub) {
    if (!(sub in accounts)) return undefined;
    return { accountId: sub, async claims() { return { sub, ...accounts[sub] }; } };
  },
  claims: { openid: ['sub'], profile: ['name', 'employee_no'] },
  features: { devInteractions: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['test-only-not-a-secret'] },
});

provider.listen(port, '127.0.0.1', () => {
  console.log(`oidc-provider listening on ${issuer}`);
});

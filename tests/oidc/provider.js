// A real OpenID Provider for the sign-on tests (oidc-provider, its development login
// and consent pages). Usage: node provider.js PORT REDIRECT_URI POST_LOGOUT_URI
// Test users (any password): ada (faculty), sam (rc-staff), nobody (no group),
// out (an email domain that is not allowed).
import Provider from 'oidc-provider';

const [port, redirectUri, postLogoutUri] = process.argv.slice(2);
const users = {
  ada: { email: 'ada@example.edu', email_verified: true, name: 'Ada Lovelace', groups: ['faculty'] },
  sam: { email: 'sam@example.edu', email_verified: true, name: 'Sam Staff', groups: ['rc-staff'] },
  nobody: { email: 'nobody@example.edu', email_verified: true, name: 'No Body', groups: [] },
  out: { email: 'out@elsewhere.org', email_verified: true, name: 'Out Side', groups: ['faculty'] },
};

const provider = new Provider(`http://127.0.0.1:${port}`, {
  clients: [
    {
      client_id: 'openchargeback',
      client_secret: 'test-client-secret-0123456789',
      redirect_uris: [redirectUri],
      post_logout_redirect_uris: [postLogoutUri],
      response_types: ['code'],
      grant_types: ['authorization_code'],
    },
  ],
  claims: {
    openid: ['sub'],
    email: ['email', 'email_verified'],
    profile: ['name'],
    groups: ['groups'],
  },
  scopes: ['openid', 'email', 'profile', 'groups'],
  conformIdTokenClaims: false, // the ID token carries the claims (no userinfo call needed)
  findAccount: async (ctx, sub) =>
    users[sub] ? { accountId: sub, claims: async () => ({ sub, ...users[sub] }) } : undefined,
  features: { devInteractions: { enabled: true }, rpInitiatedLogout: { enabled: true } },
  pkce: { required: () => true },
  cookies: { keys: ['test-only-cookie-key'] },
});
provider.listen(Number(port), '127.0.0.1', () => console.log('ready'));

// A real OpenID provider for the web console's tests: panva's oidc-provider (OpenID Certified),
// on 127.0.0.1 and a free port, with one static confidential client and four people:
//   alice  groups ["deployers"] in the ID token (and at userinfo)
//   adam   groups ["admins"] in the ID token
//   nora   no groups at all
//   ursula groups ["deployers"] only at userinfo, never in the ID token
// Usage: node provider.mjs '{"redirect": "<base>/web/callback", "signedOut": "<base>/web/signed-out"}'
// Prints one JSON line {"issuer": …} once it listens; runs until killed (or its stdin closes).
// The sign-in page is a plain form (`login` = a person's name), so a browser or an HTTP client
// can fill it in; consent is granted with the sign-in.
import http from "node:http";
import Provider from "oidc-provider";

const job = JSON.parse(process.argv[2]);
const people = {
  alice: { name: "Alice Archer", groups: ["deployers"], where: "both" },
  adam: { name: "Adam Admin", groups: ["admins"], where: "both" },
  nora: { name: "Nora Nogroups", groups: [], where: "none" },
  ursula: { name: "Ursula Userinfo", groups: ["deployers"], where: "userinfo" },
};

const server = http.createServer();
await new Promise((resolve) => server.listen(0, "127.0.0.1", resolve));
const issuer = `http://127.0.0.1:${server.address().port}`;

const provider = new Provider(issuer, {
  clients: [{
    client_id: "baton",
    client_secret: "baton-test-secret",
    redirect_uris: [job.redirect],
    post_logout_redirect_uris: [job.signedOut],
    grant_types: ["authorization_code"],
    response_types: ["code"],
    token_endpoint_auth_method: "client_secret_basic",
  }],
  cookies: { keys: ["baton-test-cookie-key"] },
  pkce: { required: () => true },
  // Claims the scopes allow go to the ID token too, as most providers do; `findAccount` decides
  // per person which claims each place gets.
  conformIdTokenClaims: false,
  scopes: ["openid", "profile", "groups"],
  claims: { openid: ["sub"], profile: ["name", "preferred_username"], groups: ["groups"] },
  features: {
    devInteractions: { enabled: false },
    rpInitiatedLogout: {
      enabled: true,
      logoutSource: async (ctx, form) => {
        ctx.body = `<!doctype html><html><body>${form}<button id="yes" type="submit" form="op.logoutForm" name="logout" value="yes">Yes, sign me out</button></body></html>`;
      },
    },
  },
  interactions: { url: (ctx, interaction) => `/interaction/${interaction.uid}` },
  findAccount: async (ctx, id) => {
    const person = people[id];
    if (!person) return undefined;
    return {
      accountId: id,
      claims: async (use) => {
        const claims = { sub: id, name: person.name, preferred_username: id };
        const here = person.where === "both" || (person.where === "userinfo" && use === "userinfo");
        if (here) claims.groups = person.groups;
        if (person.where === "none") claims.groups = [];
        return claims;
      },
    };
  },
});

const page = (res, status, html) => {
  res.writeHead(status, { "content-type": "text/html; charset=utf-8" });
  res.end(`<!doctype html><html><body>${html}</body></html>`);
};

async function interaction(req, res) {
  const details = await provider.interactionDetails(req, res);
  if (req.method === "GET") {
    return page(res, 200, `<h1>Test provider: sign in</h1><form method="post" action="/interaction/${details.uid}">
      <input name="login" id="login" autofocus><button type="submit" id="signin">Sign in</button></form>`);
  }
  const body = await new Promise((resolve) => {
    let data = "";
    req.on("data", (c) => { data += c; });
    req.on("end", () => resolve(new URLSearchParams(data)));
  });
  const login = body.get("login") || "";
  if (!people[login]) return page(res, 400, `<p id="unknown">No such person.</p>`);
  const grant = new provider.Grant({ accountId: login, clientId: details.params.client_id });
  grant.addOIDCScope(String(details.params.scope || "openid"));
  const grantId = await grant.save();
  await provider.interactionFinished(req, res, { login: { accountId: login }, consent: { grantId } },
    { mergeWithLastSubmission: false });
}

const callback = provider.callback();
server.on("request", (req, res) => {
  if (req.url.startsWith("/interaction/")) {
    interaction(req, res).catch((e) => page(res, 500, `<p>${String(e.message).replace(/</g, "&lt;")}</p>`));
  } else {
    callback(req, res);
  }
});

process.stdin.on("end", () => process.exit(0));
process.stdin.resume();
console.log(JSON.stringify({ issuer }));

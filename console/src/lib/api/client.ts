// The console's only way to the API: an openapi-fetch client typed by the
// types openapi-typescript generates from ../openapi.yaml (npm run gen). A
// change of the contract that breaks a screen fails `npm run check`.
import createClient, { type Middleware } from "openapi-fetch";
import type { components, paths } from "./schema";
import { getToken, sessionExpired } from "../auth/session";

export type Application = components["schemas"]["Application"];
export type ApplicationWithSecret = components["schemas"]["ApplicationWithSecret"];
export type ApplicationCreate = components["schemas"]["ApplicationCreate"];
export type ApplicationPatch = components["schemas"]["ApplicationPatch"];
export type ApplicationType = components["schemas"]["ApplicationType"];
export type SecretInfo = components["schemas"]["SecretInfo"];
export type SecretIssued = components["schemas"]["SecretIssued"];
export type AppEvent = components["schemas"]["Event"];
export type FieldError = components["schemas"]["FieldError"];
export type ApiError = components["schemas"]["Error"];

const auth: Middleware = {
  onRequest({ request }) {
    const t = getToken();
    if (t) request.headers.set("Authorization", `Bearer ${t}`);
    return request;
  },
  onResponse({ response }) {
    if (response.status === 401) sessionExpired();
    return response;
  },
};

/** The typed API client; same origin, so the base URL is the page's. */
export const api = createClient<paths>({ baseUrl: location.origin });
api.use(auth);

/** A failure a screen shows: the server's error body, or a network failure. */
export class Problem extends Error {
  readonly status: number;
  readonly code: string;
  readonly fields: FieldError[];
  readonly body?: ApiError;
  constructor(status: number, code: string, message: string, fields: FieldError[] = [], body?: ApiError) {
    super(message);
    this.status = status;
    this.code = code;
    this.fields = fields;
    this.body = body;
  }
}

/** What a user sees for a failure that is not theirs to fix (network, 5xx). */
export function describe(err: unknown): string {
  if (err instanceof Problem) return err.message;
  return "Something went wrong. Try again.";
}

type Result<T> = { data?: T; error?: unknown; response: Response };

/**
 * Unwraps an openapi-fetch result: the data, or a Problem carrying the
 * server's error (or a network failure, status 0). Nothing a user typed is
 * touched: callers keep their form state and show the message.
 */
export async function call<T>(p: Promise<Result<T>>): Promise<{ data: T; response: Response }> {
  let r: Result<T>;
  try {
    r = await p;
  } catch {
    throw new Problem(0, "network", "The service could not be reached. Check your connection and try again; nothing you typed was lost.");
  }
  if (r.response.ok) return { data: r.data as T, response: r.response };
  const body = (r.error ?? undefined) as ApiError | undefined;
  const status = r.response.status;
  if (status >= 500 || !body || typeof body !== "object" || !("error" in body)) {
    const id = body && typeof body === "object" && "requestId" in body && body.requestId ? ` (request ${body.requestId})` : "";
    throw new Problem(status, body?.error ?? "server_error",
      status === 503
        ? `The service is unavailable right now${id}. Try again in a moment; nothing you typed was lost.`
        : `The service failed to answer (HTTP ${status})${id}. Try again; nothing you typed was lost.`,
      [], body);
  }
  throw new Problem(status, body.error, body.errorDescription || body.detail, body.errors ?? [], body);
}

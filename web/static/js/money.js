// Amounts, dates and words as people read them: in their locale (Intl), never as the
// API spells them (ISO timestamps, field values like PENDING_PAYMENT, the seeds' error prefix).

/** `amount` (major units) formatted in `currency`, e.g. 420.5 USD → "$420.50". */
export function formatAmount(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: String(currency).toUpperCase() }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

// An ISO 8601 date or timestamp as an API writes it: 2027-01-10, 2027-01-10T15:00:00.000Z, …+02:00.
const ISO_DATE = "\\d{4}-\\d{2}-\\d{2}(?:T\\d{2}:\\d{2}(?::\\d{2}(?:\\.\\d+)?)?(?:Z|[+-]\\d{2}:?\\d{2})?)?";
const ISO_RANGE = new RegExp(`(${ISO_DATE})(\\s*(?:–|—|-|to)\\s*)(${ISO_DATE})`, "g");
const ISO_SINGLE = new RegExp(ISO_DATE, "g");
const DAY = { day: "numeric", month: "short", year: "numeric" };

function dateOf(text) {
  // A bare date is a calendar day, not midnight UTC: read it as local so it stays the same day.
  const date = new Date(/^\d{4}-\d{2}-\d{2}$/.test(text) ? `${text}T00:00:00` : text);
  return Number.isNaN(date.getTime()) ? null : date;
}

/** A date (or date range) in the buyer's words: "10 Jan 2027", "10–12 Jan 2027". */
export function formatDate(start, end = null) {
  const format = new Intl.DateTimeFormat(undefined, DAY);
  const from = dateOf(start);
  const to = end ? dateOf(end) : null;
  if (!from) return start;
  if (!to) return format.format(from);
  return typeof format.formatRange === "function" ? format.formatRange(from, to) : `${format.format(from)} – ${format.format(to)}`;
}

/** A spec's display summary with its ISO dates (and "A – B" ranges) in the buyer's locale. */
export function localizeSummary(text) {
  return String(text ?? "")
    .replace(ISO_RANGE, (whole, from, _between, to) => (dateOf(from) && dateOf(to) ? formatDate(from, to) : whole))
    .replace(ISO_SINGLE, (one) => formatDate(one));
}

/** A field value as words: "PENDING_PAYMENT" → "Pending payment", "pendingReview" → "Pending review". */
export function humanize(value) {
  const words = String(value ?? "")
    .replace(/([a-z0-9])([A-Z])/g, "$1 $2")
    .replace(/[_-]+/g, " ")
    .trim()
    .toLowerCase();
  return words ? words[0].toUpperCase() + words.slice(1) : "";
}

/** Stripe's message for the buyer: the seeds' API prefix ("Stripe error message: ") is for developers. */
export function buyerMessage(message) {
  return String(message || "").replace(/^\s*Stripe error message:\s*/i, "");
}

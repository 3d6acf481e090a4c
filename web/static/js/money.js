// Amounts as people read them: in their locale, in the order's currency.

/** `amount` (major units) formatted in `currency`, e.g. 420.5 USD → "$420.50". */
export function formatAmount(amount, currency) {
  try {
    return new Intl.NumberFormat(undefined, { style: "currency", currency: String(currency).toUpperCase() }).format(amount);
  } catch {
    return `${amount} ${currency}`;
  }
}

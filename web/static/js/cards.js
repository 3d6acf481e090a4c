// The buyer's saved cards and "A new card" as one group of radios: what Pay charges is
// exactly the checked one. Each saved card has a Delete button.
import { el } from "./dom.js";

export const NEW_CARD = "new";

const BRAND_NAMES = {
  visa: "Visa", mastercard: "Mastercard", amex: "American Express", discover: "Discover", diners: "Diners Club",
  jcb: "JCB", unionpay: "UnionPay", cartes_bancaires: "Cartes Bancaires", eftpos_au: "eftpos",
};

/** "Visa", "Mastercard": a Stripe brand code as people write it. */
export function brandName(brand) {
  const code = String(brand || "").toLowerCase();
  return BRAND_NAMES[code] || (code && code !== "unknown" ? code[0].toUpperCase() + code.slice(1) : "Card");
}

/** A card in a few words: "Visa ••4242" (Stripe's own short form). */
export function cardLabel(brand, last4) {
  return last4 ? `${brandName(brand)} ••${last4}` : brandName(brand);
}

/** How a saved card is shown: {label: "Visa ••4242", expiry: "12/2034", holder}. */
export function describeCard(card) {
  const info = card.cardInfo || {};
  return {
    label: cardLabel(info.brand, info.last4),
    last4: info.last4 || "",
    expiry: `${String(info.exp_month || "").padStart(2, "0")}/${info.exp_year || ""}`,
    holder: card.cardHolderName || "",
  };
}

/** False for a saved card Stripe no longer lets pay (`cardInfo.usable: false`). */
export function isUsable(card) {
  return (card.cardInfo || {}).usable !== false;
}

/**
 * Renders `cards` then "A new card" into `list` as radios named `name`. `selected` stays checked
 * if still there; with no saved card, the new card is the choice. `onChange()` on every change.
 */
export function renderCardChoices(list, cards, { name, selected, onDelete, onChange }) {
  list.replaceChildren();
  // A card Stripe no longer knows (detached in its dashboard, another Stripe account) stays listed
  // so the buyer can delete it, but it cannot be chosen: paying with it would only be refused.
  const ids = cards.filter(isUsable).map((card) => card.paymentMethodId);
  const chosen = selected === NEW_CARD || ids.includes(selected) ? selected : ids[0] || NEW_CARD;
  const radio = (value, disabled = false) =>
    el("input", { type: "radio", name, value, disabled, checked: !disabled && value === chosen, onChange });
  for (const card of cards) {
    const shown = describeCard(card);
    const usable = isUsable(card);
    const label = el("label", { className: "card-choice" }, radio(card.paymentMethodId, !usable),
      el("span", { className: "card-name" }, shown.label),
      usable ? el("span", { className: "card-expiry" }, `expires ${shown.expiry}`)
        : el("span", { className: "card-expiry" }, "can no longer pay: add it again"),
      shown.holder ? el("span", { className: "card-holder" }, shown.holder) : null);
    const remove = el("button", { type: "button", className: "link danger",
      "aria-label": `Delete card ending ${shown.last4}`, onClick: () => onDelete(card) }, "Delete");
    list.append(el("li", { dataset: { paymentMethodId: card.paymentMethodId } }, label, remove));
  }
  list.append(el("li", { className: "new-card-choice" },
    el("label", { className: "card-choice" }, radio(NEW_CARD), el("span", { className: "card-name" }, "A new card"))));
}

/** The value checked in `list` (a paymentMethodId or NEW_CARD), or null. */
export function chosenCard(list) {
  const checked = list.querySelector("input[type=radio]:checked");
  return checked ? checked.value : null;
}

/** Checks `value` in `list` (a paymentMethodId or NEW_CARD). */
export function chooseCard(list, value) {
  const radio = [...list.querySelectorAll("input[type=radio]")].find((input) => input.value === value);
  if (radio) radio.checked = true;
}

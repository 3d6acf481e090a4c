// The buyer's saved cards as a choice list (seed 002: brand, masked number,
// expiry, holder name), each with a Delete button.
import { el } from "./dom.js";

/** "VISA", "**** **** **** 4242", "12/2034", holder: how seed 002 shows a card. */
export function describeCard(card) {
  const info = card.cardInfo || {};
  return {
    brand: String(info.brand || "card").toUpperCase(),
    number: `**** **** **** ${info.last4 || "????"}`,
    expiry: `${String(info.exp_month || "").padStart(2, "0")}/${info.exp_year || ""}`,
    holder: card.cardHolderName || "",
  };
}

/** Renders `cards` into `list` as radios named `name`; keeps `selected` checked if still there. */
export function renderCardChoices(list, cards, { name, selected, onDelete }) {
  list.replaceChildren();
  const chosen = cards.some((card) => card.paymentMethodId === selected) ? selected : cards[0]?.paymentMethodId;
  for (const card of cards) {
    const shown = describeCard(card);
    const radio = el("input", { type: "radio", name, value: card.paymentMethodId,
      checked: card.paymentMethodId === chosen });
    const label = el("label", { className: "card-choice" }, radio,
      el("span", { className: "card-brand" }, shown.brand),
      el("span", { className: "card-number" }, shown.number),
      el("span", { className: "card-expiry", "aria-label": `expires ${shown.expiry}` }, shown.expiry),
      shown.holder ? el("span", { className: "card-holder" }, shown.holder) : null);
    const remove = el("button", { type: "button", className: "link danger",
      "aria-label": `Delete card ending ${shown.number.slice(-4)}`,
      onClick: () => onDelete(card) }, "Delete");
    list.append(el("li", {}, label, remove));
  }
}

/** The paymentMethodId checked in `list`, or null. */
export function chosenCard(list) {
  const checked = list.querySelector("input[type=radio]:checked");
  return checked ? checked.value : null;
}

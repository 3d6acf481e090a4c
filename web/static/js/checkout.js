// The checkout panel of a payment card: pick a saved card (or delete one), add a
// card with Stripe.js elements, and pay with the chosen card (web/static/js/payflow.js).
import { el, say } from "./dom.js";
import { SystemError } from "./http.js";
import { chosenCard, renderCardChoices } from "./cards.js";
import { mountCardElements } from "./stripeclient.js";
import { PaymentFailed, startPayment, waitForFinalState } from "./payflow.js";

let panels = 0;

/**
 * A checkout for `api`'s order. `returnUrl()` is where 3-D Secure comes back to;
 * `onOutcome({order, paymentResult})` reports the order once its payment settles.
 */
export function createCheckout({ api, stripe, payLabel, returnUrl, onOutcome }) {
  panels += 1;
  const id = (part) => `checkout-${panels}-${part}`;
  const message = el("p", { className: "message", role: "status", "aria-live": "polite" });
  const cardList = el("ul", { className: "card-list", "aria-label": "Saved cards" });
  const noCards = el("p", { className: "hint", hidden: true }, "No saved card yet: add one below.");
  const holder = el("input", { id: id("holder"), name: "holder", autocomplete: "cc-name" });
  const saveButton = el("button", { type: "submit" }, "Save card");
  const addForm = el("form", { className: "card-form" },
    // Stripe.js labels its own inputs; these captions are for the eye.
    el("div", { className: "caption", "aria-hidden": "true" }, "Card number"), el("div", { className: "field", id: id("number") }),
    el("div", { className: "field-row" },
      el("div", {}, el("div", { className: "caption", "aria-hidden": "true" }, "Expiry"), el("div", { className: "field", id: id("expiry") })),
      el("div", {}, el("div", { className: "caption", "aria-hidden": "true" }, "CVC"), el("div", { className: "field", id: id("cvc") }))),
    el("label", { for: id("holder") }, "Name on card"), holder,
    saveButton);
  const addCard = el("details", { className: "add-card" }, el("summary", {}, "Add a card"), addForm);
  const payButton = el("button", { type: "button", className: "primary pay-now" }, payLabel);
  const retryButton = el("button", { type: "button", hidden: true }, "Try again");
  const element = el("section", { className: "checkout", "aria-label": "Checkout" },
    el("h4", {}, "Pay with"), cardList, noCards, addCard,
    el("div", { className: "actions" }, payButton, retryButton), message);

  let cardElements = null;
  let lastAttempt = null;

  function busy(isBusy) {
    [payButton, retryButton, saveButton].forEach((button) => { button.disabled = isBusy; });
  }

  async function loadCards(selected) {
    const cards = await api.cards();
    renderCardChoices(cardList, cards, { name: id("card"), selected: selected || chosenCard(cardList), onDelete: deleteCard });
    noCards.hidden = cards.length > 0;
    if (!cards.length) addCard.open = true;
  }

  async function deleteCard(card) {
    busy(true);
    try {
      await api.deleteCard(card.paymentMethodId);
      await loadCards();
      say(message, "Card deleted.", "ok");
    } catch (error) {
      say(message, error.message, "error");
    } finally {
      busy(false);
    }
  }

  async function saveCard(event) {
    event.preventDefault();
    busy(true);
    say(message, "Saving the card…");
    try {
      const { paymentMethod, error } = await stripe.createPaymentMethod({
        type: "card", card: cardElements.numberElement, billing_details: { name: holder.value || undefined },
      });
      if (error) throw new PaymentFailed(error.message);
      const saved = await api.addCard(paymentMethod.id);
      await loadCards(saved.paymentMethodId);
      cardElements.clear();
      holder.value = "";
      addCard.open = false;
      say(message, "Card saved.", "ok");
    } catch (error) {
      say(message, error.message, "error");
    } finally {
      busy(false);
    }
  }

  async function pay(paymentMethodId) {
    if (!paymentMethodId) {
      say(message, "Choose a card or add one first.", "error");
      return;
    }
    lastAttempt = paymentMethodId;
    retryButton.hidden = true;
    busy(true);
    say(message, "Paying…");
    try {
      await startPayment(api, stripe, paymentMethodId, returnUrl());
      say(message, "Confirming the payment…");
      const settled = await waitForFinalState(api);
      if (!settled) {
        say(message, "The payment is still processing. This card will update when it is done.", "info");
        return;
      }
      onOutcome(settled);
      if (settled.order.confirmation !== "paid") say(message, "The payment did not go through. Try again or use another card.", "error");
    } catch (error) {
      if (error instanceof PaymentFailed) {
        say(message, `${error.message} Choose another card or try again.`, "error");
      } else if (error instanceof SystemError) {
        say(message, error.message, "error");
        retryButton.hidden = false; // the seeds' retry for system errors: the same attempt again
      } else {
        throw error;
      }
      api.order().then((order) => onOutcome({ order, paymentResult: null })).catch(() => {});
    } finally {
      busy(false);
    }
  }

  addForm.addEventListener("submit", saveCard);
  payButton.addEventListener("click", () => pay(chosenCard(cardList)));
  retryButton.addEventListener("click", () => pay(lastAttempt));

  return {
    element,
    /** Mounts the card elements and loads the saved cards; call once the panel is in the page. */
    async open() {
      if (!cardElements) {
        cardElements = mountCardElements(stripe, { number: `#${id("number")}`, expiry: `#${id("expiry")}`, cvc: `#${id("cvc")}` });
      }
      try {
        await loadCards();
      } catch (error) {
        say(message, error.message, "error");
      }
    },
    close() {
      if (cardElements) cardElements.destroy();
      cardElements = null;
    },
    focus() { payButton.focus(); },
  };
}

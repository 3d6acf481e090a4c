// The checkout panel of a payment card, like Stripe Checkout: one group of choices (the
// saved cards and "A new card"), and one Pay button that charges exactly the chosen one.
// A new card is created with Stripe.js, saved first when "Save this card for next time" is
// ticked (POST /payment-methods/add), or else paid with once and never saved. With
// `savedCards: false` (a pay link opened without the buyer's session, like a Stripe Payment
// Link) it is the new card alone: typed here, paid with once, never saved.
import { el, say } from "./dom.js";
import { SystemError } from "./http.js";
import { NEW_CARD, brandName, cardLabel, chooseCard, chosenCard, describeCard, renderCardChoices } from "./cards.js";
import { mountCardElements } from "./stripeclient.js";
import { PaymentFailed, rememberCard, startPayment, waitForFinalState } from "./payflow.js";

let panels = 0;

const FIELDS = ["number", "expiry", "cvc"];
const INCOMPLETE = {
  number: "Enter the card number.",
  expiry: "Enter the expiry date (MM / YY).",
  cvc: "Enter the security code (CVC).",
};

/** Which card field a Stripe error is about (its code names it: invalid_number, incomplete_cvc, …). */
function fieldOfError(error) {
  const code = `${error.code || ""} ${error.param || ""}`;
  if (/number/.test(code)) return "number";
  if (/expiry|exp_month|exp_year/.test(code)) return "expiry";
  if (/cvc/.test(code)) return "cvc";
  return null;
}

/**
 * A checkout for `api`'s order. `amountText` names the amount on the Pay button; `returnUrl()`
 * is where 3-D Secure comes back to; `onOutcome({order, paymentResult, card})` reports the order
 * once its payment settles (`card`: the words for the card that paid). `savedCards: false` (or
 * an `api` without `addCard`) offers a typed card only, never saved.
 */
export function createCheckout({ api, stripe, amountText, returnUrl, onOutcome, savedCards = true }) {
  panels += 1;
  const id = (part) => `checkout-${panels}-${part}`;
  const savesCards = savedCards && typeof api.addCard === "function";
  const message = el("p", { className: "message", id: id("message"), role: "status", "aria-live": "polite", tabindex: "-1" });
  const cardList = el("ul", { className: "card-list" });
  const errors = {};
  const fieldBoxes = {};
  const fieldBlock = (field, caption) => {
    errors[field] = el("p", { className: "field-error", id: id(`${field}-error`), hidden: true });
    fieldBoxes[field] = el("div", { className: "field", id: id(field) });
    // Stripe.js labels its own inputs; the caption is for the eye.
    return el("div", { className: "field-block" },
      el("div", { className: "caption", "aria-hidden": "true" }, caption), fieldBoxes[field], errors[field]);
  };
  const holder = el("input", { id: id("holder"), name: "holder", autocomplete: "cc-name" });
  const save = el("input", { type: "checkbox", id: id("save"), checked: true });
  const newCardForm = el("div", { className: "card-form", id: id("new-card"), role: "group", "aria-label": "New card" },
    fieldBlock("number", "Card number"),
    el("div", { className: "field-row" }, fieldBlock("expiry", "Expiry"), fieldBlock("cvc", "CVC")),
    el("label", { for: id("holder") }, "Name on card (optional)"), holder,
    savesCards ? el("label", { className: "check", for: id("save") }, save, "Save this card for next time")
      : el("p", { className: "hint" }, "This card pays this order only and is not saved."));
  const payButton = el("button", { type: "button", className: "primary pay-now" }, `Pay ${amountText}`);
  const retryButton = el("button", { type: "button", hidden: true }, "Try again");
  const element = el("section", { className: savesCards ? "checkout" : "checkout typed-card", "aria-label": "Checkout" },
    savesCards ? el("fieldset", { className: "pay-with" }, el("legend", {}, "Pay with"), cardList)
      : el("h4", {}, "Pay with a card"),
    newCardForm,
    el("div", { className: "actions" }, payButton, retryButton), message);

  let cardElements = null;
  let cards = [];
  let lastAttempt = null; // {paymentMethodId, label}: what "Try again" repeats
  const fieldState = { number: {}, expiry: {}, cvc: {} };

  let paying = false;

  // aria-disabled, not disabled: a disabled button drops the keyboard focus to the page.
  function busy(isBusy) {
    paying = isBusy;
    [payButton, retryButton].forEach((button) => button.setAttribute("aria-disabled", String(isBusy)));
    element.setAttribute("aria-busy", String(isBusy));
  }

  /** What Pay would charge: a saved card's paymentMethodId, or NEW_CARD. */
  function choice() {
    return savesCards ? chosenCard(cardList) : NEW_CARD;
  }

  /** The Pay button names what it will do: the amount and the card. */
  function updateChoice() {
    const chosen = choice();
    newCardForm.hidden = chosen !== NEW_CARD;
    const brand = fieldState.number.brand;
    const card = chosen === NEW_CARD
      ? (brand && brand !== "unknown" ? `a${savesCards ? " new" : ""} ${brandName(brand)}` : `a${savesCards ? " new" : ""} card`)
      : describeCard(cards.find((c) => c.paymentMethodId === chosen) || {}).label;
    payButton.textContent = `Pay ${amountText} with ${card}`;
  }

  async function loadCards(selected) {
    if (!savesCards) return updateChoice();
    cards = await api.cards();
    renderCardChoices(cardList, cards, { name: id("card"), selected: selected || chosenCard(cardList),
      onDelete: deleteCard, onChange: updateChoice });
    updateChoice();
  }

  async function deleteCard(card) {
    if (paying) return;
    busy(true);
    try {
      await api.deleteCard(card.paymentMethodId);
      await loadCards();
      say(message, `${describeCard(card).label} deleted.`, "ok");
    } catch (error) {
      say(message, error.message, "error");
    } finally {
      busy(false);
    }
  }

  // -- the new card's fields: errors on their fields, all at once ------------------------------

  function showFieldError(field, text) {
    const box = fieldBoxes[field];
    const input = box.querySelector("input"); // the sandbox's inputs live in the page; Stripe's in an iframe
    errors[field].textContent = text || "";
    errors[field].hidden = !text;
    for (const node of [box, input].filter(Boolean)) {
      if (text) {
        node.setAttribute("aria-invalid", "true");
        node.setAttribute("aria-describedby", errors[field].id);
      } else {
        node.removeAttribute("aria-invalid");
        node.removeAttribute("aria-describedby");
      }
    }
  }

  function onFieldChange(field, state) {
    fieldState[field] = state;
    if (field === "number") updateChoice();
    // An error the buyer has fixed goes at once; a new one shows when they leave the field or pay.
    if (!state.error && (state.complete || state.empty)) showFieldError(field, "");
    else if (state.error && errors[field].textContent) showFieldError(field, state.error.message);
  }

  /** Every field's problem shown together; true when the card can be sent to Stripe. */
  function checkFields() {
    const problems = FIELDS.filter((field) => !fieldState[field].complete);
    FIELDS.forEach((field) => showFieldError(field,
      problems.includes(field) ? (fieldState[field].error && fieldState[field].error.message) || INCOMPLETE[field] : ""));
    if (problems.length) {
      say(message, problems.length === 1 ? "Check the card detail marked below." : "Check the card details marked below.", "error");
      cardElements.focus(problems[0]);
    }
    return problems.length === 0;
  }

  /** The new card as a Stripe PaymentMethod, saved to the buyer's cards when asked: {paymentMethodId, label, saved}. */
  async function newCard() {
    if (!checkFields()) return null;
    say(message, "Checking the card…");
    const { paymentMethod, error } = await stripe.createPaymentMethod({
      type: "card", card: cardElements.numberElement, billing_details: { name: holder.value.trim() || undefined },
    });
    if (error) {
      const field = fieldOfError(error);
      if (field) {
        showFieldError(field, error.message);
        cardElements.focus(field);
        say(message, "Check the card details marked below.", "error");
        return null;
      }
      throw new PaymentFailed(error.message);
    }
    const label = cardLabel(paymentMethod.card && paymentMethod.card.brand, paymentMethod.card && paymentMethod.card.last4);
    if (!(savesCards && save.checked)) return { paymentMethodId: paymentMethod.id, label, saved: null };
    say(message, "Saving the card…");
    const known = new Set(cards.map((card) => card.paymentMethodId));
    const saved = await api.addCard(paymentMethod.id); // the same card saved before comes back as that card
    await loadCards(saved.paymentMethodId);
    cardElements.clear();
    holder.value = "";
    return { paymentMethodId: saved.paymentMethodId, label: describeCard(saved).label,
      saved: known.has(saved.paymentMethodId) ? null : saved };
  }

  /** After a decline: the card is not left chosen, and one saved by this very click is not left saved. */
  async function dropDeclined(attempt) {
    if (attempt && attempt.saved) await api.deleteCard(attempt.saved.paymentMethodId).catch(() => {});
    if (!savesCards) return; // nothing to un-choose: the typed card is the only way to pay
    await loadCards(NEW_CARD).catch(() => {});
    chooseCard(cardList, NEW_CARD);
    updateChoice();
  }

  async function pay(repeat = null) {
    if (paying) return; // one click, one payment attempt
    retryButton.hidden = true;
    busy(true);
    let attempt = repeat;
    try {
      if (!attempt) {
        const chosen = choice();
        if (chosen === NEW_CARD) {
          attempt = await newCard();
          if (!attempt) return;
        } else {
          attempt = { paymentMethodId: chosen, saved: null,
            label: describeCard(cards.find((card) => card.paymentMethodId === chosen) || {}).label };
        }
      }
      lastAttempt = attempt;
      say(message, `Paying ${amountText} with ${attempt.label}…`);
      rememberCard(api.orderId, attempt.label); // named again after a 3-D Secure redirect
      await startPayment(api, stripe, attempt.paymentMethodId, returnUrl());
      say(message, "Confirming the payment…");
      const settled = await waitForFinalState(api);
      if (!settled) {
        say(message, "The payment is still processing. This card will update when it is done.", "info");
        return;
      }
      onOutcome({ ...settled, card: attempt.label });
      if (settled.order.confirmation !== "paid") {
        await dropDeclined(attempt);
        say(message, "The payment did not go through. Try again or use another card.", "error");
        message.focus();
      }
    } catch (error) {
      if (error instanceof PaymentFailed) {
        await dropDeclined(attempt);
        say(message, `${error.message} Choose another card or try again.`, "error");
        message.focus();
      } else if (error instanceof SystemError) {
        say(message, error.message, "error");
        if (attempt) retryButton.hidden = false; // the seeds' retry for system errors: the same attempt again
        message.focus();
      } else {
        throw error;
      }
      api.order().then((order) => onOutcome({ order, paymentResult: null, card: null })).catch(() => {});
    } finally {
      busy(false);
    }
  }

  payButton.addEventListener("click", () => pay());
  retryButton.addEventListener("click", () => pay(lastAttempt));

  return {
    element,
    /** Mounts the card elements and loads the saved cards; call once the panel is in the page. */
    async open() {
      if (!cardElements) {
        cardElements = mountCardElements(stripe, { number: `#${id("number")}`, expiry: `#${id("expiry")}`, cvc: `#${id("cvc")}` },
          { onChange: onFieldChange });
      }
      try {
        await loadCards();
      } catch (error) {
        // The saved cards could not be read: a typed card can still pay.
        renderCardChoices(cardList, [], { name: id("card"), selected: NEW_CARD, onDelete: deleteCard, onChange: updateChoice });
        updateChoice();
        say(message, error.message, "error");
      }
    },
    close() {
      if (cardElements) cardElements.destroy();
      cardElements = null;
    },
    /** The first thing the buyer must do: type a card when there is none to choose, else Pay. */
    focus() {
      if (choice() === NEW_CARD && cardElements) cardElements.focus("number");
      else payButton.focus();
    },
  };
}

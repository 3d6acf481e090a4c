// The operations the payment components need on one order, over either way of
// being authorised:
//   restOrderApi — the signed-in user's bearer token on the REST API (the chat);
//   payLinkApi   — a pay-link token on /pay/api/{token} (the hosted pay page), with the
//                  buyer's bearer token too once they sign in there.
// Both answer the same normalised shapes:
//   order()   → {id, confirmation, status}
//   start()/refresh() → {order: {id, confirmation, status}, paymentResult}
import { requestJson } from "./http.js";

function normalisedOrder(order, statusProperty) {
  return { id: order.id, confirmation: order._paymentConfirmation, status: order[statusProperty] };
}

// `quote` is initiatePayment's {amount, currency, version}: sent with start, it binds the payment to
// what the card showed (409 with the current quote once the order changed).
export function restOrderApi({ token, orderType, orderId, objectConfig, onUnauthorized, quote }) {
  const { prefix, plural, statusProperty } = objectConfig;
  const id = encodeURIComponent(orderId);
  const lower = orderType.toLowerCase();

  async function call(method, path, body) {
    try {
      return await requestJson(method, prefix + path, { token, body });
    } catch (error) {
      if (error.status === 401 && onUnauthorized) onUnauthorized();
      throw error;
    }
  }
  const outcome = (answer) => ({
    order: normalisedOrder(answer[orderType], statusProperty),
    paymentResult: answer.paymentResult,
  });

  return {
    orderId,
    statusProperty,
    order: async () => normalisedOrder((await call("GET", `/v1/${plural}/${id}`))[orderType], statusProperty),
    cards: () => call("GET", "/payment-methods/list"),
    addCard: (paymentMethodId) => call("POST", "/payment-methods/add", { paymentMethodId }),
    deleteCard: (paymentMethodId) => call("DELETE", `/payment-methods/delete/${encodeURIComponent(paymentMethodId)}`),
    start: async (paymentMethodId, returnUrl) => outcome(await call("PATCH", `/v1/start${lower}payment/${id}`, {
      paymentUserParams: quote ? { paymentMethodId, return_url: returnUrl, quote } : { paymentMethodId, return_url: returnUrl },
    })),
    refresh: async () => outcome(await call("PATCH", `/v1/refresh${lower}payment/${id}`)),
  };
}

/** `token`: the buyer's own bearer token, when they signed in on the pay page (saved cards need it). */
export function payLinkApi(payToken, { token } = {}) {
  const base = `/pay/api/${encodeURIComponent(payToken)}`;
  const call = (method, path, body) => requestJson(method, base + path, { token, body });
  let statusProperty = null;
  const outcome = (answer) => ({ order: normalisedOrder(answer.order, statusProperty), paymentResult: answer.paymentResult });

  return {
    orderId: null,
    get statusProperty() { return statusProperty; },
    /** The order and what paying it charges: {orderType, orderId, amount, currency, description, savedCards}. */
    async details() {
      const answer = await call("GET", "/order");
      statusProperty = answer.statusProperty;
      this.orderId = answer.order.id;
      return { type: "payment", orderType: answer.orderType, serviceName: answer.serviceName, orderId: answer.order.id,
        amount: answer.amount, currency: answer.currency, description: answer.description, savedCards: answer.savedCards,
        summary: answer.summary };
    },
    async order() {
      const answer = await call("GET", "/order");
      statusProperty = answer.statusProperty;
      return normalisedOrder(answer.order, statusProperty);
    },
    cards: () => call("GET", "/cards"),
    addCard: (paymentMethodId) => call("POST", "/cards/add", { paymentMethodId }),
    deleteCard: (paymentMethodId) => call("DELETE", `/cards/${encodeURIComponent(paymentMethodId)}`),
    start: async (paymentMethodId, returnUrl) => outcome(await call("PATCH", "/start", {
      paymentUserParams: { paymentMethodId, return_url: returnUrl },
    })),
    refresh: async () => outcome(await call("PATCH", "/refresh")),
  };
}

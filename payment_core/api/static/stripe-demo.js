/* The seeds' payment frontend flow for one order object (seed 002 / 004 "Stripe demo").
 * Config comes from <body data-config>; every value shown is set with textContent. */
(function () {
  "use strict";
  var config = JSON.parse(document.body.dataset.config);
  var api = config.servicePrefix;
  var stripe = Stripe(config.publishableKey);
  var params = new URLSearchParams(window.location.search);
  var token = window.sessionStorage.getItem("orderpay-token");
  var cardNumber;

  function $(id) { return document.getElementById(id); }

  function say(text, kind) {
    var message = $("message");
    message.textContent = text;
    message.className = kind || "";
  }

  function call(method, path, body) {
    var init = { method: method, headers: { "Authorization": "Bearer " + token } };
    if (body !== undefined) {
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(body);
    }
    return window.fetch(path, init).then(function (response) {
      return response.json().then(function (json) {
        if (response.status === 401) { signOut(); }
        // System errors: any status other than 200/201 (seed 002).
        if (response.status !== 200 && response.status !== 201) {
          throw new Error(json.message || ("HTTP " + response.status));
        }
        return json;
      });
    });
  }

  function signOut() {
    window.sessionStorage.removeItem("orderpay-token");
    token = null;
    $("checkout").hidden = true;
    $("signin").hidden = false;
  }

  function item(list, text, control) {
    var li = document.createElement("li");
    var label = document.createElement("label");
    if (control) { label.appendChild(control); }
    label.appendChild(document.createTextNode(" " + text));
    li.appendChild(label);
    list.appendChild(li);
    return li;
  }

  function radio(name, value, checked) {
    var input = document.createElement("input");
    input.type = "radio";
    input.name = name;
    input.value = value;
    input.checked = !!checked;
    return input;
  }

  function loadOrders() {
    return call("GET", api + "/v1/" + config.plural + "?pageRowCount=100").then(function (page) {
      var list = $("orders");
      list.textContent = "";
      var rows = page[config.objectPlural] || [];
      var wanted = params.get("orderId");
      rows.forEach(function (order, index) {
        var text = order.id + " — " + (order[config.statusField] || "") + " — payment " + order._paymentConfirmation;
        var input = radio("order", order.id, wanted ? order.id === wanted : index === 0);
        input.disabled = order._paymentConfirmation === "paid";
        item(list, text, input);
      });
      if (!rows.length) { item(list, "You have no " + config.objectPlural + "."); }
    });
  }

  function loadCards() {
    return call("GET", api + "/payment-methods/list").then(function (cards) {
      var list = $("cards");
      list.textContent = "";
      if (!cards.length) { item(list, "No saved card yet: add one below."); $("add-card").open = true; }
      cards.forEach(function (card, index) {
        var info = card.cardInfo || {};
        var text = (info.brand || "card").toUpperCase() + " **** **** **** " + info.last4 + "  " +
          info.exp_month + "/" + info.exp_year + (card.cardHolderName ? "  " + card.cardHolderName : "");
        var li = item(list, text, radio("card", card.paymentMethodId, index === 0));
        var remove = document.createElement("button");
        remove.type = "button";
        remove.className = "link";
        remove.textContent = "Delete";
        remove.setAttribute("aria-label", "Delete card ending " + info.last4);
        remove.addEventListener("click", function () {
          call("DELETE", api + "/payment-methods/delete/" + encodeURIComponent(card.paymentMethodId))
            .then(loadCards).then(function () { say("Card deleted.", "ok"); })
            .catch(function (error) { say(error.message, "error"); });
        });
        li.appendChild(remove);
      });
    });
  }

  function chosen(name) {
    var input = document.querySelector("input[name=" + name + "]:checked");
    return input ? input.value : null;
  }

  function mountCard() {
    var elements = stripe.elements();
    cardNumber = elements.create("cardNumber");
    cardNumber.mount("#card-number");
    elements.create("cardExpiry").mount("#card-expiry");
    elements.create("cardCvc").mount("#card-cvc");
  }

  function saveCard(event) {
    event.preventDefault();
    var form = event.target;
    stripe.createPaymentMethod({
      type: "card", card: cardNumber,
      billing_details: { name: form.name.value || undefined, address: { postal_code: form.zip.value || undefined } }
    }).then(function (result) {
      if (result.error) { throw new Error(result.error.message); }
      return call("POST", api + "/payment-methods/add", { paymentMethodId: result.paymentMethod.id });
    }).then(function () {
      $("add-card").open = false;
      say("Card saved.", "ok");
      return loadCards();
    }).catch(function (error) { say(error.message, "error"); });
  }

  function resultUrl(orderId, clientSecret) {
    var url = new URL(window.location.pathname, window.location.origin);
    url.searchParams.set("orderId", orderId);
    if (clientSecret) { url.searchParams.set("payment_intent_client_secret", clientSecret); }
    return url;
  }

  function pay() {
    var orderId = chosen("order");
    var paymentMethodId = chosen("card");
    if (!orderId || !paymentMethodId) { say("Choose a " + config.object + " and a card first.", "error"); return; }
    $("pay").disabled = true;
    say("Paying…");
    call("PATCH", api + "/v1/start" + config.object.toLowerCase() + "payment/" + encodeURIComponent(orderId), {
      paymentUserParams: { paymentMethodId: paymentMethodId, return_url: resultUrl(orderId).toString() }
    }).then(function (response) {
      var result = response.paymentResult || {};
      if (result.result === "ERR") { throw new Error(result.message); }  // payment error: retry on this page
      var info = result.paymentIntentInfo || {};
      if (info.status === "requires_action") {
        return stripe.handleNextAction({ clientSecret: info.clientSecret }).then(function (next) {
          if (next.error) { throw new Error(next.error.message); }
          return info.clientSecret;
        });
      }
      return info.clientSecret;
    }).then(function (clientSecret) {
      window.location.href = resultUrl(orderId, clientSecret).toString();
    }).catch(function (error) {
      say(error.message, "error");
      $("pay").disabled = false;
      loadOrders();
    });
  }

  function showResult(orderId, clientSecret) {
    $("result").hidden = false;
    $("again").href = window.location.pathname;
    var details = $("result-details");
    function row(term, value) {
      var dt = document.createElement("dt"); dt.textContent = term;
      var dd = document.createElement("dd"); dd.textContent = value;
      details.appendChild(dt); details.appendChild(dd);
    }
    var intent = clientSecret ? stripe.retrievePaymentIntent(clientSecret) : Promise.resolve({});
    intent.then(function (result) {
      if (result.paymentIntent) { row("Stripe status", result.paymentIntent.status); }
      var tries = 0;
      // The order is the truth: poll it (refreshing from Stripe) until it is paid or canceled.
      (function poll() {
        call("PATCH", api + "/v1/refresh" + config.object.toLowerCase() + "payment/" + encodeURIComponent(orderId))
          .then(function () {
            return call("GET", api + "/stripe-demo/" + config.object + "/fetch-created-order?orderId=" + encodeURIComponent(orderId));
          })
          .then(function (response) {
            var order = response[config.object];
            var state = order._paymentConfirmation;
            if (state === "paid" || state === "canceled" || ++tries > 20) {
              row("Order", order.id);
              row("Order status", String(order[config.statusField]));
              row("Payment", state);
              say(state === "paid" ? "Paid — fulfilment has started." : "The payment did not go through; try again.",
                state === "paid" ? "ok" : "error");
            } else {
              setTimeout(poll, 1000);
            }
          })
          .catch(function (error) { say(error.message, "error"); });
      })();
    });
  }

  function start() {
    $("signin").hidden = true;
    if (params.get("orderId") && (params.get("payment_intent_client_secret") || params.get("redirect_status"))) {
      showResult(params.get("orderId"), params.get("payment_intent_client_secret"));
      return;
    }
    $("checkout").hidden = false;
    Promise.all([loadOrders(), loadCards()]).catch(function (error) { say(error.message, "error"); });
  }

  $("signin-form").addEventListener("submit", function (event) {
    event.preventDefault();
    var form = event.target;
    window.fetch("/auth/login", {
      method: "POST", headers: { "Content-Type": "application/json" },
      body: JSON.stringify({ username: form.username.value, password: form.password.value })
    }).then(function (response) {
      return response.json().then(function (json) {
        if (!response.ok) { throw new Error(json.message); }
        token = json.access_token;
        window.sessionStorage.setItem("orderpay-token", token);
        say("");
        start();
      });
    }).catch(function (error) { say(error.message, "error"); });
  });
  $("card-form").addEventListener("submit", saveCard);
  $("pay").addEventListener("click", pay);
  mountCard();
  if (token) { start(); } else { signOut(); }
})();

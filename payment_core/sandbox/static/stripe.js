/*
 * orderpay Stripe sandbox — a dependency-free stand-in for https://js.stripe.com/v3/.
 *
 * Same entry points, arguments and result shapes as Stripe.js for what orderpay uses:
 * Stripe(pk), stripe.elements(), elements.create('card' | 'cardNumber' | 'cardExpiry' | 'cardCvc'),
 * element.mount/unmount/destroy/on/off/update/focus/blur/clear, stripe.createPaymentMethod,
 * stripe.confirmCardPayment, stripe.handleNextAction, stripe.handleCardAction, stripe.retrievePaymentIntent.
 *
 * Card data goes from the browser straight to the sandbox with the publishable key, as with Stripe.
 * Unlike Stripe, inputs render in the page itself (no iframe): there is no PCI boundary to keep offline.
 */
(function (window, document) {
  "use strict";

  // Replaced by the server with the sandbox's own URL as this browser reached it.
  var API_BASE = "__SANDBOX_BASE_URL__";
  var FRAME_MESSAGE = "orderpay-sandbox-3ds-complete";
  var elementCount = 0;

  // ---------------------------------------------------------------- HTTP

  function encodeForm(params, prefix, pairs) {
    Object.keys(params).forEach(function (key) {
      var value = params[key];
      var name = prefix ? prefix + "[" + key + "]" : key;
      if (value === undefined || value === null) return;
      if (typeof value === "object") {
        encodeForm(value, name, pairs);
      } else {
        pairs.push(encodeURIComponent(name) + "=" + encodeURIComponent(String(value)));
      }
    });
    return pairs;
  }

  // Like Stripe.js: the key travels as a form parameter, which keeps requests "simple" (no CORS preflight).
  function request(method, path, params) {
    var body = encodeForm(params, "", []).join("&");
    var url = API_BASE + path + (method === "GET" ? "?" + body : "");
    var init = { method: method, headers: {} };
    if (method !== "GET") {
      init.headers["Content-Type"] = "application/x-www-form-urlencoded";
      init.body = body;
    }
    return window.fetch(url, init).then(
      function (response) {
        return response.json().then(function (json) {
          return response.ok ? { object: json } : { error: json.error };
        });
      },
      function (failure) {
        return { error: { type: "api_connection_error", message: "Could not reach the Stripe sandbox: " + failure.message } };
      }
    );
  }

  function intentIdFromSecret(clientSecret) {
    var match = /^(pi_[A-Za-z0-9]+)_secret_[A-Za-z0-9]+$/.exec(String(clientSecret || ""));
    if (!match) {
      throw new Error("Invalid value for clientSecret: expected a PaymentIntent client secret (pi_..._secret_...).");
    }
    return match[1];
  }

  // ---------------------------------------------------------------- card rules (as the sandbox checks them)

  var BRANDS = [
    ["amex", /^3[47]/], ["diners", /^3(0[0-5]|[689])/], ["jcb", /^35/], ["discover", /^(6011|64[4-9]|65)/],
    ["unionpay", /^62/], ["mastercard", /^(5[1-5]|2(22[1-9]|2[3-9]\d|[3-6]\d\d|7[01]\d|720))/], ["visa", /^4/]
  ];
  // The lengths a buyer types; a wrong number of that length is reported as invalid straight away.
  var LENGTHS = { amex: [15], diners: [14, 16] };

  function brandOf(digits) {
    for (var i = 0; i < BRANDS.length; i++) if (BRANDS[i][1].test(digits)) return BRANDS[i][0];
    return "unknown";
  }

  function luhn(digits) {
    var sum = 0;
    for (var i = 0; i < digits.length; i++) {
      var digit = +digits[digits.length - 1 - i];
      if (i % 2) digit = digit > 4 ? digit * 2 - 9 : digit * 2;
      sum += digit;
    }
    return sum % 10 === 0;
  }

  function validationError(code, message) {
    return { type: "validation_error", code: code, message: message };
  }

  // Each field: how to format what is typed, and its state {empty, complete, error (shown on the fly), incomplete}.
  var FIELDS = {
    number: {
      label: "Card number", placeholder: "1234 1234 1234 1234", autocomplete: "cc-number", maxLength: 23,
      incomplete: validationError("incomplete_number", "Your card number is incomplete."),
      format: function (raw) {
        var digits = raw.replace(/\D/g, "").slice(0, 19);
        var groups = brandOf(digits) === "amex" ? [4, 6, 5] : [4, 4, 4, 4, 3];
        var parts = [], at = 0;
        groups.forEach(function (size) { if (at < digits.length) { parts.push(digits.slice(at, at + size)); at += size; } });
        return parts.join(" ");
      },
      check: function (value) {
        var digits = value.replace(/\D/g, ""), brand = brandOf(digits);
        var lengths = LENGTHS[brand] || [16], max = Math.max.apply(null, lengths);
        if (!digits) return { empty: true, brand: "unknown" };
        if (lengths.indexOf(digits.length) >= 0 && luhn(digits)) return { complete: true, brand: brand };
        if (digits.length >= max) return { brand: brand, error: validationError("invalid_number", "Your card number is invalid.") };
        return { brand: brand, incomplete: FIELDS.number.incomplete };
      }
    },
    expiry: {
      label: "Expiration date (MM / YY)", placeholder: "MM / YY", autocomplete: "cc-exp", maxLength: 7,
      incomplete: validationError("incomplete_expiry", "Your card's expiration date is incomplete."),
      format: function (raw) {
        var digits = raw.replace(/\D/g, "").slice(0, 4);
        if (digits.length === 1 && digits > "1") digits = "0" + digits;
        return digits.length > 2 ? digits.slice(0, 2) + " / " + digits.slice(2) : digits;
      },
      check: function (value) {
        var digits = value.replace(/\D/g, "");
        if (!digits) return { empty: true };
        var month = +digits.slice(0, 2), year = 2000 + +digits.slice(2);
        if (digits.length >= 2 && (month < 1 || month > 12)) {
          return { error: validationError("invalid_expiry_month", "Your card's expiration month is invalid.") };
        }
        if (digits.length < 4) return { incomplete: FIELDS.expiry.incomplete };
        var now = new Date(), thisYear = now.getFullYear();
        if (year < thisYear) return { error: validationError("invalid_expiry_year_past", "Your card's expiration year is in the past.") };
        if (year === thisYear && month < now.getMonth() + 1) {
          return { error: validationError("invalid_expiry_month_past", "Your card's expiration date is in the past.") };
        }
        if (year > thisYear + 50) return { error: validationError("invalid_expiry_year", "Your card's expiration year is invalid.") };
        return { complete: true, month: month, year: year };
      }
    },
    cvc: {
      label: "Security code (CVC)", placeholder: "CVC", autocomplete: "cc-csc", maxLength: 4,
      incomplete: validationError("incomplete_cvc", "Your card's security code is incomplete."),
      format: function (raw) { return raw.replace(/\D/g, "").slice(0, 4); },
      check: function (value, brand) {
        var needed = brand === "amex" ? 4 : 3;
        if (!value) return { empty: true };
        if (value.length === needed) return { complete: true };
        if (value.length > needed) return { error: validationError("invalid_cvc", "Your card's security code is invalid.") };
        return { incomplete: FIELDS.cvc.incomplete };
      }
    }
  };

  var ELEMENT_FIELDS = { card: ["number", "expiry", "cvc"], cardNumber: ["number"], cardExpiry: ["expiry"], cardCvc: ["cvc"] };

  // ---------------------------------------------------------------- Elements

  function Elements(stripe, options) {
    this._stripe = stripe;
    this._options = options || {};
    this._elements = [];
  }

  Elements.prototype.create = function (type, options) {
    if (!ELEMENT_FIELDS[type]) throw new Error("Unsupported element type in the Stripe sandbox: " + type);
    if (this.getElement(type)) throw new Error("Can only create one Element of type " + type + ".");
    var element = new Element(this, type, options || {});
    this._elements.push(element);
    return element;
  };

  Elements.prototype.getElement = function (type) {
    for (var i = 0; i < this._elements.length; i++) if (this._elements[i]._type === type) return this._elements[i];
    return null;
  };

  // The value of one card field, wherever it lives: the combined card element or one of the split ones.
  Elements.prototype._field = function (name) {
    for (var i = 0; i < this._elements.length; i++) {
      var input = this._elements[i]._inputs[name];
      if (input) return input.value;
    }
    return null;
  };

  function Element(group, type, options) {
    this._group = group;
    this._type = type;
    this._options = options;
    this._handlers = {};
    this._inputs = {};
    this._values = {};
    this._container = null;
    this._destroyed = false;
    this._id = "sandbox-element-" + ++elementCount;
  }

  Element.prototype.mount = function (target) {
    if (this._destroyed) throw new Error("This Element has already been destroyed. Please create a new one.");
    var parent = typeof target === "string" ? document.querySelector(target) : target;
    if (!parent || !parent.appendChild) throw new Error("The selector you specified (" + target + ") applies to no DOM elements.");
    if (this._container) this.unmount();
    var self = this;
    var container = document.createElement("div");
    container.className = "SandboxElement SandboxElement--" + this._type;
    container.style.display = "flex";
    container.style.gap = "8px";
    ELEMENT_FIELDS[this._type].forEach(function (name) {
      var spec = FIELDS[name], id = self._id + "-" + name;
      var wrapper = document.createElement("div");
      wrapper.style.flex = name === "number" ? "3 1 0" : "1 1 0";
      var label = document.createElement("label");
      label.htmlFor = id;
      label.textContent = spec.label;
      label.className = "SandboxElement-label";
      // Visually hidden but read by assistive technology, like Stripe's own fields.
      label.style.cssText = "position:absolute;width:1px;height:1px;overflow:hidden;clip:rect(0 0 0 0);white-space:nowrap;";
      var input = document.createElement("input");
      input.id = id;
      input.name = id;
      input.type = "text";
      input.inputMode = "numeric";
      input.autocomplete = spec.autocomplete;
      input.placeholder = spec.placeholder;
      input.maxLength = spec.maxLength;
      input.spellcheck = false;
      input.setAttribute("aria-invalid", "false");
      input.setAttribute("data-field", name);
      input.value = self._values[name] || "";
      input.style.cssText = "width:100%;box-sizing:border-box;border:0;outline:none;background:transparent;font:inherit;padding:2px 0;";
      input.addEventListener("input", function () { self._onInput(name); });
      input.addEventListener("focus", function () { self._emit("focus", { elementType: self._type }); });
      input.addEventListener("blur", function () { self._onBlur(name); });
      wrapper.appendChild(label);
      wrapper.appendChild(input);
      container.appendChild(wrapper);
      self._inputs[name] = input;
    });
    parent.appendChild(container);
    this._container = container;
    this._applyOptions();
    setTimeout(function () { self._emit("ready", { elementType: self._type }); }, 0);
  };

  Element.prototype.unmount = function () {
    if (!this._container) return;
    var values = this._values, inputs = this._inputs;
    Object.keys(inputs).forEach(function (name) { values[name] = inputs[name].value; });
    this._container.parentNode && this._container.parentNode.removeChild(this._container);
    this._container = null;
    this._inputs = {};
  };

  Element.prototype.destroy = function () {
    this.unmount();
    this._destroyed = true;
    var list = this._group._elements;
    list.splice(list.indexOf(this), 1);
  };

  Element.prototype.on = function (event, handler) {
    (this._handlers[event] = this._handlers[event] || []).push(handler);
    return this;
  };

  Element.prototype.off = function (event, handler) {
    var list = this._handlers[event] || [];
    this._handlers[event] = handler ? list.filter(function (h) { return h !== handler; }) : [];
    return this;
  };

  Element.prototype.once = function (event, handler) {
    var self = this;
    function wrapped(payload) { self.off(event, wrapped); handler(payload); }
    return this.on(event, wrapped);
  };

  Element.prototype.update = function (options) {
    for (var key in options) this._options[key] = options[key];
    this._applyOptions();
  };

  Element.prototype.focus = function () {
    var first = this._inputs[ELEMENT_FIELDS[this._type][0]];
    if (first) first.focus();
  };

  Element.prototype.blur = function () {
    var active = document.activeElement;
    if (active && active.getAttribute("data-field") && this._container && this._container.contains(active)) active.blur();
  };

  Element.prototype.clear = function () {
    var inputs = this._inputs;
    Object.keys(inputs).forEach(function (name) { inputs[name].value = ""; });
    this._values = {};
    this._emit("change", this._state(false));
  };

  Element.prototype._emit = function (event, payload) {
    (this._handlers[event] || []).slice().forEach(function (handler) { handler(payload); });
  };

  Element.prototype._brand = function () {
    return brandOf((this._group._field("number") || "").replace(/\D/g, ""));
  };

  // The change event Stripe sends: {elementType, empty, complete, error, brand?, value?}.
  Element.prototype._state = function (showIncomplete) {
    var self = this, brand = this._brand();
    var state = { elementType: this._type, empty: true, complete: true, error: undefined };
    ELEMENT_FIELDS[this._type].forEach(function (name) {
      var input = self._inputs[name];
      var result = FIELDS[name].check(input ? input.value : self._values[name] || "", brand);
      state.empty = state.empty && !!result.empty;
      state.complete = state.complete && !!result.complete;
      var error = result.error || (showIncomplete && result.incomplete) || undefined;
      if (input) input.setAttribute("aria-invalid", error ? "true" : "false");
      if (error && !state.error) state.error = error;
    });
    if (this._type === "card" || this._type === "cardNumber") state.brand = brand;
    if (this._type === "card") state.value = { postalCode: "" };
    this._paint();
    return state;
  };

  Element.prototype._onInput = function (name) {
    var input = this._inputs[name];
    var formatted = FIELDS[name].format(input.value);
    if (formatted !== input.value) input.value = formatted;
    var state = this._state(false);
    this._emit("change", state);
    // Move on to the next field once this one is complete, as Stripe's card element does.
    var order = ELEMENT_FIELDS[this._type], next = this._inputs[order[order.indexOf(name) + 1]];
    if (next && FIELDS[name].check(input.value, this._brand()).complete) next.focus();
  };

  Element.prototype._onBlur = function (name) {
    this._emit("blur", { elementType: this._type });
    var input = this._inputs[name];
    if (input && input.value) this._emit("change", this._state(true));
  };

  // `style: {base: {...}, invalid: {...}}` as Stripe takes it, applied to the inputs.
  Element.prototype._applyOptions = function () {
    var style = this._options.style || {}, inputs = this._inputs, disabled = !!this._options.disabled;
    var placeholder = this._options.placeholder;
    var single = ELEMENT_FIELDS[this._type].length === 1;
    Object.keys(inputs).forEach(function (name) {
      inputs[name].disabled = disabled;
      if (placeholder && single) inputs[name].placeholder = placeholder;
    });
    if (this._container) applyCss(this._container, style.base);
    this._paint();
  };

  Element.prototype._paint = function () {
    var style = this._options.style || {}, inputs = this._inputs;
    Object.keys(inputs).forEach(function (name) {
      var invalid = inputs[name].getAttribute("aria-invalid") === "true";
      inputs[name].style.color = invalid && style.invalid && style.invalid.color ? style.invalid.color : "inherit";
    });
  };

  function applyCss(node, css) {
    if (!css) return;
    Object.keys(css).forEach(function (key) {
      if (key.charAt(0) !== ":" && typeof css[key] !== "object") node.style[key] = css[key];
    });
  }

  // ---------------------------------------------------------------- payment methods and intents

  function cardParams(element) {
    var group = element._group;
    var values = { number: group._field("number"), expiry: group._field("expiry"), cvc: group._field("cvc") };
    var brand = brandOf((values.number || "").replace(/\D/g, ""));
    var names = ["number", "expiry", "cvc"], checked = {};
    for (var i = 0; i < names.length; i++) {
      if (values[names[i]] === null) {
        return { error: validationError("incomplete", "Missing the " + FIELDS[names[i]].label + " Element.") };
      }
      var result = FIELDS[names[i]].check(values[names[i]], brand);
      if (!result.complete) return { error: result.error || FIELDS[names[i]].incomplete };
      checked[names[i]] = result;
    }
    return {
      card: {
        number: values.number.replace(/\D/g, ""),
        exp_month: checked.expiry.month,
        exp_year: checked.expiry.year,
        cvc: values.cvc
      }
    };
  }

  function StripeSandbox(publishableKey, options) {
    if (typeof publishableKey !== "string" || !/^pk_/.test(publishableKey)) {
      throw new Error(/^sk_/.test(String(publishableKey))
        ? "You should not use your secret key with Stripe.js. Please pass a publishable key instead."
        : "Invalid value for Stripe(): apiKey should be a publishable key (pk_test_...).");
    }
    this._key = publishableKey;
    this._options = options || {};
  }

  StripeSandbox.prototype.elements = function (options) {
    return new Elements(this, options);
  };

  // createPaymentMethod({type: 'card', card: element, billing_details, metadata}) → {paymentMethod} | {error}
  StripeSandbox.prototype.createPaymentMethod = function (data, legacyElement, legacyData) {
    if (typeof data === "string") data = Object.assign({ type: data, card: legacyElement }, legacyData || {});
    if (!data || data.type !== "card" || !data.card || !data.card._group) {
      return Promise.reject(new Error("createPaymentMethod: expected {type: 'card', card: <card Element>}."));
    }
    var details = cardParams(data.card);
    if (details.error) return Promise.resolve({ error: details.error });
    var params = { key: this._key, type: "card", card: details.card };
    if (data.billing_details) params.billing_details = data.billing_details;
    if (data.metadata) params.metadata = data.metadata;
    return request("POST", "/v1/payment_methods", params).then(function (result) {
      return result.error ? { error: result.error } : { paymentMethod: result.object };
    });
  };

  // retrievePaymentIntent(clientSecret) → {paymentIntent} | {error}
  StripeSandbox.prototype.retrievePaymentIntent = function (clientSecret) {
    var id;
    try { id = intentIdFromSecret(clientSecret); } catch (e) { return Promise.reject(e); }
    return request("GET", "/v1/payment_intents/" + id, { key: this._key, client_secret: clientSecret }).then(function (result) {
      return result.error ? { error: result.error } : { paymentIntent: result.object };
    });
  };

  // confirmCardPayment(clientSecret, {payment_method: id | {card: element, billing_details}, return_url}, {handleActions})
  StripeSandbox.prototype.confirmCardPayment = function (clientSecret, data, options) {
    var self = this, id;
    data = data || {};
    options = options || {};
    try { id = intentIdFromSecret(clientSecret); } catch (e) { return Promise.reject(e); }
    var method = data.payment_method;
    var ready = method && typeof method === "object"
      ? this.createPaymentMethod({ type: "card", card: method.card, billing_details: method.billing_details }).then(function (r) {
          return r.error ? r : { id: r.paymentMethod.id };
        })
      : Promise.resolve({ id: method });
    return ready.then(function (pm) {
      if (pm.error) return { error: pm.error };
      var params = { key: self._key, client_secret: clientSecret, payment_method: pm.id };
      if (data.return_url) params.return_url = data.return_url;
      else params.use_stripe_sdk = "true";
      if (data.setup_future_usage) params.setup_future_usage = data.setup_future_usage;
      if (data.receipt_email) params.receipt_email = data.receipt_email;
      return request("POST", "/v1/payment_intents/" + id + "/confirm", params).then(function (result) {
        if (result.error) return { error: result.error };
        if (result.object.status === "requires_action" && options.handleActions !== false) {
          return self._handleAction(result.object, clientSecret);
        }
        return { paymentIntent: result.object };
      });
    });
  };

  // handleNextAction({clientSecret}) → {paymentIntent} | {error}
  StripeSandbox.prototype.handleNextAction = function (args) {
    var self = this, clientSecret = args && args.clientSecret;
    return this.retrievePaymentIntent(clientSecret).then(function (result) {
      if (result.error) return result;
      var intent = result.paymentIntent;
      if (intent.status !== "requires_action") return { paymentIntent: intent };
      return self._handleAction(intent, clientSecret);
    });
  };

  StripeSandbox.prototype.handleCardAction = function (clientSecret) {
    return this.handleNextAction({ clientSecret: clientSecret });
  };

  StripeSandbox.prototype._handleAction = function (intent, clientSecret) {
    var self = this, action = intent.next_action || {};
    if (action.type === "redirect_to_url") {
      window.location.assign(action.redirect_to_url.url);
      return new Promise(function () {}); // the page is going away, as with Stripe.js
    }
    if (action.type !== "use_stripe_sdk") {
      return Promise.resolve({ error: { type: "invalid_request_error", message: "Unsupported next_action: " + action.type } });
    }
    return openChallenge(action.use_stripe_sdk.stripe_js).then(function () {
      return self.retrievePaymentIntent(clientSecret);
    }).then(function (result) {
      if (result.error) return result;
      var pi = result.paymentIntent;
      if (pi.status === "requires_payment_method" && pi.last_payment_error) {
        return { error: Object.assign({}, pi.last_payment_error, { payment_intent: pi }) };
      }
      return { paymentIntent: pi };
    });
  };

  // The issuer's challenge in a modal iframe, as Stripe.js shows it; resolves when the page reports back.
  function openChallenge(url) {
    return new Promise(function (resolve) {
      var overlay = document.createElement("div");
      overlay.setAttribute("role", "dialog");
      overlay.setAttribute("aria-modal", "true");
      overlay.setAttribute("aria-label", "3D Secure authentication");
      overlay.className = "SandboxChallenge";
      overlay.style.cssText = "position:fixed;inset:0;z-index:2147483647;background:rgba(0,0,0,0.45);" +
        "display:flex;align-items:center;justify-content:center;";
      var frame = document.createElement("iframe");
      frame.src = url;
      frame.title = "3D Secure authentication";
      frame.name = "sandbox-3ds-challenge";
      frame.style.cssText = "width:min(420px,94vw);height:min(460px,90vh);border:0;border-radius:8px;background:#fff;";
      var previousFocus = document.activeElement;
      function onMessage(event) {
        if (event.source !== frame.contentWindow || !event.data || event.data.type !== FRAME_MESSAGE) return;
        window.removeEventListener("message", onMessage);
        overlay.parentNode && overlay.parentNode.removeChild(overlay);
        if (previousFocus && previousFocus.focus) previousFocus.focus();
        resolve(event.data);
      }
      window.addEventListener("message", onMessage);
      frame.addEventListener("load", function () { frame.focus(); });
      overlay.appendChild(frame);
      document.body.appendChild(overlay);
    });
  }

  function Stripe(publishableKey, options) {
    return new StripeSandbox(publishableKey, options);
  }
  Stripe.version = 3;
  Stripe.sandbox = { apiBase: API_BASE };

  window.Stripe = Stripe;
})(window, document);

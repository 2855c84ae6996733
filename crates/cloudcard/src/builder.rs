//! Building a [`CloudCard`]. A production builder ([`CloudCard::builder`]) must be given its
//! keys (or a durable store that keeps them) and every port that reaches the outside world;
//! building without one is an error naming what is missing. A demo builder
//! (`CloudCard::demo`, feature `demo`) fills what is not set with in-memory stores, random keys
//! and simulators, so `CloudCard::demo().build()` runs out of the box: for tests and examples
//! only.

use std::sync::Arc;

use cloudcard_core::messages::Messages;
use cloudcard_core::{IssuerTable, Kv, MemoryKv, SharedClock, SystemClock};
use cloudcard_report::{
    Dispatcher, KvLookupStore, LookupConfig, LookupConnector, LookupService, LookupStore,
};
use cloudcard_risk::{
    InMemoryRiskStore, KvRiskStore, KvVelocityStore, RiskConfig, RiskEngine, RiskStore, RuleSet,
    VelocityPort, VelocityStore,
};
use cloudcard_token::{
    InMemoryTokenStore, KvTokenStore, TokenBin, TokenConfig, TokenKeys, TokenService, TokenStore,
};
use cloudcard_wallet::{
    BankGateway, FaceVerifier, IdentityVerifier, KvWalletStore, Notifier, SmsGateway, Wallet,
    WalletConfig, WalletKeys, WalletPorts, WalletStore,
};

use crate::lookup::WalletChecks;
use crate::ports::IssuerAuthorizer;
use crate::state::FacadeState;
use crate::{CloudCard, Error};

impl CloudCard {
    /// Starts building a production service: it must be given its keys (or be opened on a
    /// durable store, which keeps them), SMS, identity and face verification, the banks'
    /// binding checks, notifications, the issuer and the lookup connectors. What is not set is
    /// named by the error [`Error::NotConfigured`], never filled with a simulator.
    pub fn builder() -> CloudCardBuilder {
        CloudCardBuilder::default()
    }

    /// Starts building a demo service: whatever is not set is filled with an in-memory stand-in
    /// or simulator: random keys (lost with the process), in-memory SMS and notifications, the
    /// demo people registry (whose accepted face anyone can compute), simulated banks, and an
    /// issuer that approves any payment up to ¥50,000. A test that reads the codes passes its
    /// own [`InMemoryOutbox`](cloudcard_wallet::InMemoryOutbox) as `.sms(..)`. For tests,
    /// examples and trying cloudcard out; never for production. Feature `demo`.
    #[cfg(feature = "demo")]
    pub fn demo() -> CloudCardBuilder<Demo> {
        CloudCardBuilder { demo: true, ..CloudCardBuilder::default() }
    }
}

/// A production builder's state: it finishes only on a store with its keys
/// ([`CloudCardBuilder::open`], `open_postgres` (feature `postgres`),
/// [`CloudCardBuilder::build_on`]), never with defaults.
#[derive(Debug, Clone, Copy, Default)]
pub struct Production;

/// A demo builder's state: `CloudCardBuilder::build` fills what is not set with simulators.
/// Feature `demo`.
#[cfg(feature = "demo")]
#[derive(Debug, Clone, Copy, Default)]
pub struct Demo;

/// Sets up a [`CloudCard`]: see [`CloudCard::builder`] (production: a store, keys and every
/// port required) and `CloudCard::demo` (feature `demo`: simulators and random keys for what
/// is not set).
/// The risk rules default to the shipped ones.
///
/// A production builder cannot be finished without a store and its keys:
///
/// ```compile_fail
/// let cc = cloudcard::CloudCard::builder().build(); // no `build` on a production builder
/// ```
#[must_use]
pub struct CloudCardBuilder<S = Production> {
    state: std::marker::PhantomData<S>,
    /// Whether what is not set is filled with simulators (only `CloudCard::demo` sets it).
    #[cfg(feature = "demo")]
    demo: bool,
    clock: Option<SharedClock>,
    token_keys: Option<TokenKeys>,
    wallet_keys: Option<WalletKeys>,
    token_bin: Option<String>,
    wallet_config: Option<WalletConfig>,
    lookup_config: Option<LookupConfig>,
    rules: Option<RuleSet>,
    sms: Option<Arc<dyn SmsGateway>>,
    identity: Option<Arc<dyn IdentityVerifier>>,
    face: Option<Arc<dyn FaceVerifier>>,
    bank: Option<Arc<dyn BankGateway>>,
    notifier: Option<Arc<dyn Notifier>>,
    issuer: Option<Arc<dyn IssuerAuthorizer>>,
    connectors: Option<Vec<Arc<dyn LookupConnector>>>,
    token_store: Option<Arc<dyn TokenStore>>,
    wallet_store: Option<Arc<dyn WalletStore>>,
    lookup_store: Option<Arc<dyn LookupStore>>,
    kv: Option<Arc<dyn Kv>>,
    velocity: Option<Arc<dyn VelocityPort>>,
    messages: Option<Messages>,
}

impl<S> Default for CloudCardBuilder<S> {
    fn default() -> Self {
        Self {
            state: std::marker::PhantomData,
            #[cfg(feature = "demo")]
            demo: false,
            clock: None,
            token_keys: None,
            wallet_keys: None,
            token_bin: None,
            wallet_config: None,
            lookup_config: None,
            rules: None,
            sms: None,
            identity: None,
            face: None,
            bank: None,
            notifier: None,
            issuer: None,
            connectors: None,
            token_store: None,
            wallet_store: None,
            lookup_store: None,
            kv: None,
            velocity: None,
            messages: None,
        }
    }
}

impl<S> std::fmt::Debug for CloudCardBuilder<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CloudCardBuilder").finish_non_exhaustive()
    }
}

macro_rules! setters {
    ($($(#[$doc:meta])* $name:ident: $ty:ty;)*) => {$(
        $(#[$doc])*
        pub fn $name(mut self, value: $ty) -> Self {
            self.$name = Some(value);
            self
        }
    )*};
}

#[cfg(feature = "demo")]
impl CloudCardBuilder<Demo> {
    /// Builds the demo service, filling what is not set with in-memory stores, random keys
    /// and simulators.
    ///
    /// # Errors
    ///
    /// [`Error::Token`] if the token BIN overlaps an issuer BIN; [`Error::Risk`] if the rules do
    /// not fit the velocity windows.
    pub fn build(self) -> Result<CloudCard, Error> {
        self.assemble()
    }
}

#[cfg(feature = "demo")]
impl<S> CloudCardBuilder<S> {
    /// Fills every port and key not set with its in-memory stand-in or simulator.
    fn with_simulators(mut self) -> Self {
        use cloudcard_wallet::{
            DEMO_PEOPLE, InMemoryNotifier, InMemoryOutbox, PeopleRegistry, SimulatedBankGateway,
        };

        use crate::demo::{SimulatedIssuer, SimulatedLookupBank, demo_cards, face_of};

        let sms = self.sms.get_or_insert_with(|| Arc::new(InMemoryOutbox::new())).clone();
        self.notifier.get_or_insert_with(|| Arc::new(InMemoryNotifier::new()));
        let people = Arc::new(PeopleRegistry::new());
        for (name, id, _) in DEMO_PEOPLE {
            if let (Ok(name), Ok(id)) = (name.parse(), id.parse()) {
                let face = face_of(&id);
                people.add(name, id, Some(face));
            }
        }
        self.identity.get_or_insert_with(|| people.clone());
        self.face.get_or_insert(people);
        self.bank.get_or_insert_with(|| Arc::new(SimulatedBankGateway::demo(sms)));
        self.issuer.get_or_insert_with(|| Arc::new(SimulatedIssuer::default()));
        self.connectors.get_or_insert_with(|| {
            cloudcard_core::Bank::NATIONAL
                .into_iter()
                .map(|bank| {
                    Arc::new(SimulatedLookupBank { bank, cards: demo_cards() })
                        as Arc<dyn LookupConnector>
                })
                .collect()
        });
        self.token_keys.get_or_insert_with(TokenKeys::random);
        self.wallet_keys.get_or_insert_with(WalletKeys::random);
        self
    }
}

impl CloudCardBuilder<Production> {
    /// Builds the production service on `kv` (a database shared by its nodes, or one the
    /// embedder provides) with the service's keys, from the embedder's own key management.
    /// [`Self::open`] and `open_postgres` (feature `postgres`) keep the keys in the store instead.
    ///
    /// # Errors
    ///
    /// [`Error::NotConfigured`] naming the ports not set; [`Error::Token`] if the token BIN
    /// overlaps an issuer BIN; [`Error::Risk`] if the rules do not fit the velocity windows.
    pub fn build_on(
        self,
        kv: Arc<dyn Kv>,
        token_keys: TokenKeys,
        wallet_keys: WalletKeys,
    ) -> Result<CloudCard, Error> {
        self.token_keys(token_keys).wallet_keys(wallet_keys).kv(kv).assemble()
    }
}

impl<S> CloudCardBuilder<S> {
    setters! {
        /// The clock (default: the system clock).
        clock: SharedClock;
        /// Vault data key, fingerprint, PAR and LUK master keys (default: random — demos only).
        token_keys: TokenKeys;
        /// Password pepper, code and card-fingerprint keys (default: random — demos only).
        wallet_keys: WalletKeys;
        /// The token BIN prefix (default `990001`), checked against the issuer table.
        token_bin: String;
        /// Wallet settings (default: 20 cards, production argon2id).
        wallet_config: WalletConfig;
        /// Lookup settings (default: nationwide since 2022-06-29).
        lookup_config: LookupConfig;
        /// The live risk rules (default: the shipped rules).
        rules: RuleSet;
        /// SMS (default: an in-memory outbox).
        sms: Arc<dyn SmsGateway>;
        /// The identity authority (default: the demo people registry, a test double).
        identity: Arc<dyn IdentityVerifier>;
        /// The face service (default: the demo people registry, a test double).
        face: Arc<dyn FaceVerifier>;
        /// The banks' binding checks (default: the demo bank simulator).
        bank: Arc<dyn BankGateway>;
        /// Notifications (default: in memory).
        notifier: Arc<dyn Notifier>;
        /// The issuer's authorization (default: a simulated issuer).
        issuer: Arc<dyn IssuerAuthorizer>;
        /// One lookup connector per bank (default: the simulated banks).
        connectors: Vec<Arc<dyn LookupConnector>>;
        /// The token store (default: in memory).
        token_store: Arc<dyn TokenStore>;
        /// The wallet store (default: in memory).
        wallet_store: Arc<dyn WalletStore>;
        /// The lookup store (default: in memory).
        lookup_store: Arc<dyn LookupStore>;
        /// The record store every other store is built on: wallet, risk status lists, loss log
        /// and claims, card-token links, challenges and the flow journal, and the token vault
        /// unless a token store is set. Default: a fresh in-memory one (with the faster
        /// sharded in-memory token store). Two services over the same `kv` (and keys) are one
        /// system: a restart, or two nodes.
        kv: Arc<dyn Kv>;
        /// Where risk velocity is counted. Default: in the `kv` if one is set (shared by every
        /// service on it), else in this process. Its windows must hold the rules' windows.
        velocity: Arc<dyn VelocityPort>;
        /// How SMS, notifications and report notes are worded, and the SMS signature
        /// (default: Chinese, signed 【cloudcard】): `Messages::new(Language::English, "..")`,
        /// or the embedder's own [`Templates`](cloudcard_core::messages::Templates).
        messages: Messages;
    }

    /// The keys and ports not set yet, by their setter's name.
    fn missing(&self) -> Vec<&'static str> {
        [
            ("token_keys", self.token_keys.is_none()),
            ("wallet_keys", self.wallet_keys.is_none()),
            ("sms", self.sms.is_none()),
            ("identity", self.identity.is_none()),
            ("face", self.face.is_none()),
            ("bank", self.bank.is_none()),
            ("notifier", self.notifier.is_none()),
            ("issuer", self.issuer.is_none()),
            ("connectors", self.connectors.is_none()),
        ]
        .into_iter()
        .filter_map(|(name, unset)| unset.then_some(name))
        .collect()
    }

    /// Assembles the service from its keys and ports, all of which must be set; what is not
    /// is named by [`Error::NotConfigured`].
    fn assemble(self) -> Result<CloudCard, Error> {
        #[cfg(feature = "demo")]
        if self.demo {
            return self.with_simulators().assemble_set();
        }
        self.assemble_set()
    }

    /// [`Self::assemble`] once every port is set, whoever set it.
    fn assemble_set(self) -> Result<CloudCard, Error> {
        let not_configured = Error::NotConfigured(self.missing().join(", "));
        let (
            Some(token_keys),
            Some(wallet_keys),
            Some(sms),
            Some(identity),
            Some(face),
            Some(bank),
            Some(notifier),
            Some(issuer),
            Some(connectors),
        ) = (
            self.token_keys,
            self.wallet_keys,
            self.sms,
            self.identity,
            self.face,
            self.bank,
            self.notifier,
            self.issuer,
            self.connectors,
        )
        else {
            return Err(not_configured);
        };
        let clock = self.clock.unwrap_or_else(|| Arc::new(SystemClock));
        let messages = self.messages.unwrap_or_default();
        let ports = WalletPorts { sms: sms.clone(), identity, face, bank, notifier };
        let shared_kv = self.kv.is_some();
        let kv: Arc<dyn Kv> = self.kv.unwrap_or_else(|| Arc::new(MemoryKv::new()));
        let wallet_store =
            self.wallet_store.unwrap_or_else(|| Arc::new(KvWalletStore::new_in(kv.clone())));
        let wallet = Arc::new(
            Wallet::new(
                self.wallet_config.unwrap_or_default(),
                wallet_keys,
                ports,
                wallet_store,
                clock.clone(),
            )
            .with_messages(messages.clone()),
        );
        let bin =
            TokenBin::new(self.token_bin.as_deref().unwrap_or("990001"), IssuerTable::builtin())?;
        let tokens = TokenService::new(
            TokenConfig::new(bin),
            token_keys,
            self.token_store.unwrap_or_else(|| {
                if shared_kv {
                    Arc::new(KvTokenStore::new(kv.clone()))
                } else {
                    Arc::new(InMemoryTokenStore::new())
                }
            }),
            clock.clone(),
        );
        let risk_config = RiskConfig::default();
        let rules = match self.rules {
            Some(rules) => rules,
            None => RuleSet::default_rules(&risk_config.windows)?,
        };
        let windows = risk_config.windows.clone();
        let (risk_store, velocity): (Arc<dyn RiskStore>, Arc<dyn VelocityPort>) = if shared_kv {
            (
                Arc::new(KvRiskStore::new_in(kv.clone())),
                self.velocity
                    .unwrap_or_else(|| Arc::new(KvVelocityStore::new(kv.clone(), windows))),
            )
        } else {
            (
                Arc::new(InMemoryRiskStore::new()),
                self.velocity.unwrap_or_else(|| Arc::new(VelocityStore::new(windows))),
            )
        };
        let risk = RiskEngine::with_store(risk_config, rules, clock.clone(), risk_store, velocity)?;
        // The wallet answers for the lookup: its checks of face, code and password, and the
        // identity document the banks match on.
        let checks = Arc::new(WalletChecks(wallet.clone()));
        let lookup = LookupService::new(
            self.lookup_config.unwrap_or_default(),
            self.lookup_store.unwrap_or_else(|| Arc::new(KvLookupStore::new_in(kv.clone()))),
        )
        .with_verifier(checks.clone())
        .with_messages(messages);
        Ok(CloudCard {
            clock,
            wallet,
            tokens,
            risk,
            lookup,
            dispatcher: Dispatcher::new(connectors, checks),
            issuer,
            sms,
            state: FacadeState::new(kv, shared_kv),
        })
    }
}

/// A named 32-byte key kept wrapped in a durable store.
#[cfg(any(feature = "sqlite", feature = "postgres"))]
pub(crate) type NamedKey<'a> =
    dyn Fn(&str) -> Result<cloudcard_masking::Secret<[u8; 32]>, cloudcard_core::StoreError> + 'a;

impl<S> CloudCardBuilder<S> {
    /// Builds the service on a durable `kv` whose service keys (vault data key, fingerprint,
    /// PAR and LUK master keys, password pepper, code and card keys) come from `key`, and
    /// runs [`CloudCard::run_due`] once.
    #[cfg(any(feature = "sqlite", feature = "postgres"))]
    pub(crate) fn open_on(self, kv: Arc<dyn Kv>, key: &NamedKey<'_>) -> Result<CloudCard, Error> {
        let token_keys = TokenKeys::new(
            &key("token/data-v1")?,
            &key("token/fingerprint")?,
            &key("token/par")?,
            &key("token/luk-master")?,
        );
        let wallet_keys = WalletKeys {
            pepper: cloudcard_masking::Secret::new(key("wallet/pepper")?.expose_secret().to_vec()),
            otp_key: key("wallet/codes")?,
            card_key: key("wallet/cards")?,
        };
        let service = self.token_keys(token_keys).wallet_keys(wallet_keys).kv(kv).assemble()?;
        service.run_due()?;
        Ok(service)
    }
}

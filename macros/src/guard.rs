//! The expansion of the guard attributes.

use proc_macro_crate::{FoundCrate, crate_name};
use proc_macro2::{Span, TokenStream};
use quote::{format_ident, quote};
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::{Ident, ItemFn, LitInt, LitStr, Token, parse2};

#[derive(Clone, Copy)]
pub(crate) enum Framework {
    Axum,
    Actix,
}

#[derive(Clone, Copy)]
pub(crate) enum AccessKind {
    Role,
    Scope,
}

impl AccessKind {
    fn name(self) -> &'static str {
        match self {
            Self::Role => "role",
            Self::Scope => "scope",
        }
    }
}

/// `"a"`, `any("a", "b")` or `all("a", "b")`.
struct Spec {
    any: bool,
    values: Vec<LitStr>,
}

impl Parse for Spec {
    fn parse(input: ParseStream<'_>) -> syn::Result<Self> {
        if input.peek(LitStr) {
            let value: LitStr = input.parse()?;
            if !input.is_empty() {
                return Err(input.error(
                    "expected one string; for several, write any(\"a\", \"b\") or all(\"a\", \"b\")",
                ));
            }
            return Ok(Self {
                any: false,
                values: vec![value],
            });
        }
        let mode: Ident = input.parse().map_err(|e| {
            syn::Error::new(
                e.span(),
                "expected a string, any(\"a\", ..) or all(\"a\", ..)",
            )
        })?;
        let any = match mode.to_string().as_str() {
            "any" => true,
            "all" => false,
            _ => {
                return Err(syn::Error::new(
                    mode.span(),
                    "expected a quoted name (\"admin\"), any(..) or all(..)",
                ));
            }
        };
        let content;
        syn::parenthesized!(content in input);
        let values: Punctuated<LitStr, Token![,]> =
            content.parse_terminated(<LitStr as Parse>::parse, Token![,])?;
        if !input.is_empty() {
            return Err(input.error("unexpected tokens after the list"));
        }
        if values.is_empty() {
            return Err(syn::Error::new(
                mode.span(),
                format!("{mode}(..) needs at least one string"),
            ));
        }
        Ok(Self {
            any,
            values: values.into_iter().collect(),
        })
    }
}

pub(crate) fn expand(
    framework: Framework,
    kind: AccessKind,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    match try_expand(framework, kind, args, item) {
        Ok(tokens) => tokens,
        Err(err) => err.to_compile_error(),
    }
}

fn try_expand(
    framework: Framework,
    kind: AccessKind,
    args: TokenStream,
    item: TokenStream,
) -> syn::Result<TokenStream> {
    let name = format!("require_{}", kind.name());
    let attribute = format!("#[{name}]");
    if args.is_empty() {
        return Err(syn::Error::new(
            Span::call_site(),
            format!(
                "{attribute} needs what to require: #[{name}(\"admin\")], #[{name}(any(\"a\", \"b\"))] or #[{name}(all(\"a\", \"b\"))]"
            ),
        ));
    }
    let spec: Spec = parse2(args)?;
    if let Some(empty) = spec.values.iter().find(|v| v.value().trim().is_empty()) {
        return Err(syn::Error::new(
            empty.span(),
            format!("a {} can't be empty", kind.name()),
        ));
    }
    let function = handler(item, &attribute)?;
    let kind_name = kind.name();
    let mode_name = if spec.any { "any" } else { "all" };
    let values = &spec.values;
    let kind_path = match kind {
        AccessKind::Role => quote!(AccessKind::Role),
        AccessKind::Scope => quote!(AccessKind::Scope),
    };
    let mode = if spec.any {
        quote!(Match::Any)
    } else {
        quote!(Match::All)
    };
    Ok(guarded(
        framework,
        function,
        kind_name,
        quote!(Requirement::new(#kind_path, #mode, [#(#values),*])),
        quote!(#kind_name, #mode_name, #(#values),*),
    ))
}

/// The handler under a guard attribute: a free `async fn`.
fn handler(item: TokenStream, attribute: &str) -> syn::Result<ItemFn> {
    let function: ItemFn = parse2(item).map_err(|e| {
        syn::Error::new(e.span(), format!("{attribute} goes on an async fn handler"))
    })?;
    if function.sig.asyncness.is_none() {
        return Err(syn::Error::new_spanned(
            function.sig.fn_token,
            format!("{attribute} goes on an async fn handler"),
        ));
    }
    if let Some(receiver) = function.sig.receiver() {
        return Err(syn::Error::new_spanned(
            receiver,
            format!("{attribute} goes on a free async fn handler, not a method"),
        ));
    }
    Ok(function)
}

/// `function` with a guard in front of its arguments: a marker type whose requirement is
/// `requirement` (an expression that names the items of the adapter's `__private` without a
/// path: they are in scope where it is evaluated), and the OpenAPI entry `entry` (the values
/// of the guard's placeholder).
fn guarded(
    framework: Framework,
    mut function: ItemFn,
    kind_name: &str,
    requirement: TokenStream,
    entry: TokenStream,
) -> TokenStream {
    let krate = adapter_path(framework);
    let private = quote!(#krate::__private);
    // Guards can be stacked: each needs its own marker type.
    let stacked = function
        .sig
        .inputs
        .iter()
        .filter(|input| {
            quote!(#input)
                .to_string()
                .contains("__jwtguard_requirement_")
        })
        .count();
    let marker = format_ident!(
        "__jwtguard_requirement_{}_{}_{}",
        function.sig.ident,
        kind_name,
        stacked
    );
    note_in_openapi(&mut function, stacked, entry);
    let vis = &function.vis;
    let guard: syn::FnArg = syn::parse_quote!(_: #private::Guard<#marker>);
    function.sig.inputs.insert(0, guard);

    quote! {
        #[allow(non_camel_case_types)]
        #[doc(hidden)]
        #vis struct #marker;

        impl #private::StaticRequirement for #marker {
            fn requirement() -> &'static #private::Requirement {
                static REQUIREMENT: ::std::sync::OnceLock<#private::Requirement> = ::std::sync::OnceLock::new();
                #private::once(&REQUIREMENT, || { use #private::*; #requirement })
            }
        }

        #function
    }
}

/// One of the step-up guards (RFC 9470).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum StepUp {
    /// `#[require_acr("mfa")]`, `#[require_acr(any("mfa", "hwk"))]`.
    Acr,
    /// `#[require_auth_age(300)]`: seconds.
    AuthAge,
}

impl StepUp {
    fn name(self) -> &'static str {
        match self {
            Self::Acr => "require_acr",
            Self::AuthAge => "require_auth_age",
        }
    }
}

/// What the step-up guards of one handler ask for.
#[derive(Default)]
struct StepUpSpec {
    acr: Option<Vec<LitStr>>,
    max_age: Option<u64>,
}

impl StepUpSpec {
    fn add(&mut self, guard: StepUp, args: TokenStream, span: Span) -> syn::Result<()> {
        let twice = || {
            let hint = match guard {
                StepUp::Acr => "for several acr values write any(\"a\", \"b\")",
                StepUp::AuthAge => "keep the shorter age",
            };
            syn::Error::new(
                span,
                format!("#[{}] twice on one handler; {hint}", guard.name()),
            )
        };
        match guard {
            StepUp::Acr => {
                if args.is_empty() {
                    return Err(syn::Error::new(
                        span,
                        "#[require_acr] needs the acr: #[require_acr(\"mfa\")] or #[require_acr(any(\"mfa\", \"hwk\"))]",
                    ));
                }
                let spec: Spec = parse2(args)?;
                if !spec.any && spec.values.len() > 1 {
                    return Err(syn::Error::new(
                        span,
                        "a token has one acr: write any(\"a\", \"b\"), not all(..)",
                    ));
                }
                if let Some(empty) = spec.values.iter().find(|v| v.value().trim().is_empty()) {
                    return Err(syn::Error::new(empty.span(), "an acr can't be empty"));
                }
                if self.acr.replace(spec.values).is_some() {
                    return Err(twice());
                }
            }
            StepUp::AuthAge => {
                let seconds: LitInt = parse2(args).map_err(|e| {
                    syn::Error::new(
                        e.span(),
                        "#[require_auth_age] needs the most seconds since the user authenticated: #[require_auth_age(300)]",
                    )
                })?;
                let seconds: u64 = seconds.base10_parse()?;
                if seconds == 0 {
                    return Err(syn::Error::new(
                        span,
                        "#[require_auth_age(0)] can't be met: auth_time is in whole seconds; write 1 or more",
                    ));
                }
                if self.max_age.replace(seconds).is_some() {
                    return Err(twice());
                }
            }
        }
        Ok(())
    }
}

/// What a step-up guard that joined the one above it is left with: it expands to the handler
/// as it is (its path stays, so that its `use` is still used).
const JOINED: &str = "__jwtguard_joined";

/// `#[require_acr]` and `#[require_auth_age]`. The step-up guards below this one on the same
/// handler join it, so that one requirement, and one challenge, names both the `acr` values
/// and the `max_age`.
pub(crate) fn expand_step_up(
    framework: Framework,
    guard: StepUp,
    args: TokenStream,
    item: TokenStream,
) -> TokenStream {
    if args.to_string() == JOINED {
        // Only where a step-up guard above has taken this one's requirement in: the handler
        // has that guard's argument.
        let joined = parse2::<ItemFn>(item.clone()).is_ok_and(|function| {
            let marker = format!(
                "__jwtguard_requirement_{}_authentication_",
                function.sig.ident
            );
            function.sig.inputs.iter().any(|input| {
                let syn::FnArg::Typed(typed) = input else {
                    return false;
                };
                let ty = &typed.ty;
                quote!(#ty).to_string().replace(' ', "").contains(&marker)
            })
        });
        if joined {
            return item;
        }
        return syn::Error::new(
            Span::call_site(),
            format!("`{JOINED}` is jwtguard's own marker, not a requirement"),
        )
        .to_compile_error();
    }
    let expanded = (|| {
        let mut spec = StepUpSpec::default();
        spec.add(guard, args, Span::call_site())?;
        let mut function = handler(item, &format!("#[{}]", guard.name()))?;
        let mut kept = Vec::with_capacity(function.attrs.len());
        for mut attr in std::mem::take(&mut function.attrs) {
            let below = [StepUp::Acr, StepUp::AuthAge].into_iter().find(|guard| {
                attr.path()
                    .segments
                    .last()
                    .is_some_and(|last| last.ident == guard.name())
            });
            if let Some(below) = below {
                let args = match &attr.meta {
                    syn::Meta::List(list) => list.tokens.clone(),
                    _ => TokenStream::new(),
                };
                spec.add(below, args, Span::call_site())?;
                let path = attr.path().clone();
                let joined = Ident::new(JOINED, Span::call_site());
                attr.meta = syn::parse_quote!(#path(#joined));
            }
            kept.push(attr);
        }
        function.attrs = kept;
        let acr = spec.acr.unwrap_or_default();
        let (max_age, max_age_entry) = match spec.max_age {
            Some(seconds) => (
                quote!(::std::option::Option::Some(::std::time::Duration::from_secs(#seconds))),
                LitStr::new(&seconds.to_string(), Span::call_site()),
            ),
            None => (
                quote!(::std::option::Option::None),
                LitStr::new("", Span::call_site()),
            ),
        };
        Ok::<_, syn::Error>(guarded(
            framework,
            function,
            "authentication",
            {
                let count = acr.len();
                quote!({
                    let acr: [&str; #count] = [#(#acr),*];
                    Requirement::step_up(acr, #max_age)
                })
            },
            quote!("authentication", #max_age_entry, #(#acr),*),
        ))
    })();
    expanded.unwrap_or_else(|err| err.to_compile_error())
}

/// With the feature `utoipa`: leaves the requirement in the `security` of a
/// `#[utoipa::path(..)]` (or `#[path(..)]`, also inside `#[cfg_attr(..)]`) below the guard,
/// as the entry `"jwtguard:<n>" = [values..]` (`["<role|scope>", "<any|all>", names..]`, or
/// `["authentication", "<max age>", acr values..]`), all the guards' entries in one
/// requirement object. `jwtguard_core::openapi` reads them back and writes the document's
/// schemes in their place. A guard above no such attribute changes nothing.
fn note_in_openapi(function: &mut ItemFn, index: usize, values: TokenStream) {
    if !cfg!(feature = "utoipa") {
        return;
    }
    let name = LitStr::new(&format!("jwtguard:{index}"), Span::call_site());
    let entry = quote!(#name = [#values]);
    for attr in &mut function.attrs {
        if let Some(list) = utoipa_path(&mut attr.meta) {
            list.tokens = with_entry(std::mem::take(&mut list.tokens), entry);
            return;
        }
        // `#[cfg_attr(<predicate>, utoipa::path(..), ..)]`: the path inside it.
        let syn::Meta::List(cfg_attr) = &mut attr.meta else {
            continue;
        };
        if !cfg_attr.path.is_ident("cfg_attr") {
            continue;
        }
        let Ok(mut inner) = cfg_attr
            .parse_args_with(syn::punctuated::Punctuated::<syn::Meta, Token![,]>::parse_terminated)
        else {
            continue;
        };
        // The first is the predicate, the rest are attributes.
        if let Some(list) = inner.iter_mut().skip(1).find_map(utoipa_path) {
            list.tokens = with_entry(std::mem::take(&mut list.tokens), entry);
            cfg_attr.tokens = quote!(#inner);
            return;
        }
    }
}

/// The arguments of `meta` when it is `utoipa::path(..)` or `path(..)`.
fn utoipa_path(meta: &mut syn::Meta) -> Option<&mut syn::MetaList> {
    let syn::Meta::List(list) = meta else {
        return None;
    };
    let segments: Vec<String> = list
        .path
        .segments
        .iter()
        .map(|s| s.ident.to_string())
        .collect();
    (segments == ["utoipa", "path"] || segments == ["path"]).then_some(list)
}

/// `tokens` (a `#[utoipa::path]`'s arguments) with `entry` added to the guards' requirement
/// object of its `security(..)`, which is made when missing.
fn with_entry(tokens: TokenStream, entry: TokenStream) -> TokenStream {
    use proc_macro2::{Delimiter, Group, TokenTree};

    let is_guards_object = |group: &Group| {
        group.delimiter() == Delimiter::Parenthesis
            && matches!(
                group.stream().into_iter().next(),
                Some(TokenTree::Literal(lit)) if lit.to_string().starts_with("\"jwtguard:")
            )
    };
    let mut trees: Vec<TokenTree> = tokens.into_iter().collect();
    let security = trees.iter().enumerate().find_map(|(at, tree)| match tree {
        TokenTree::Ident(ident) if ident == "security" => match trees.get(at + 1) {
            Some(TokenTree::Group(group)) if group.delimiter() == Delimiter::Parenthesis => {
                Some(at + 1)
            }
            _ => None,
        },
        _ => None,
    });
    let Some(at) = security else {
        let ends_with_comma =
            matches!(trees.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',');
        let mut tokens: TokenStream = trees.into_iter().collect();
        if !ends_with_comma && !tokens.is_empty() {
            tokens.extend(quote!(,));
        }
        tokens.extend(quote!(security((#entry))));
        return tokens;
    };
    let TokenTree::Group(group) = &trees[at] else {
        unreachable!("found as a group")
    };
    let mut objects: Vec<TokenTree> = group.stream().into_iter().collect();
    let guards = objects
        .iter()
        .position(|tree| matches!(tree, TokenTree::Group(object) if is_guards_object(object)));
    match guards {
        Some(position) => {
            let TokenTree::Group(object) = &objects[position] else {
                unreachable!("found as a group")
            };
            let mut inner = object.stream();
            inner.extend(quote!(, #entry));
            let mut merged = Group::new(Delimiter::Parenthesis, inner);
            merged.set_span(object.span());
            objects[position] = TokenTree::Group(merged);
        }
        None => {
            let ends_with_comma =
                matches!(objects.last(), Some(TokenTree::Punct(p)) if p.as_char() == ',');
            if !ends_with_comma && !objects.is_empty() {
                objects.extend(quote!(,));
            }
            objects.extend(quote!((#entry)));
        }
    }
    let mut security = Group::new(Delimiter::Parenthesis, objects.into_iter().collect());
    security.set_span(group.span());
    trees[at] = TokenTree::Group(security);
    trees.into_iter().collect()
}

/// The adapter as the calling crate names it: the adapter crate itself when it depends on it
/// (even if the `jwtguard` facade is there too, say as a dev-dependency for the test kit, or
/// without the adapter's feature), else through the facade.
fn adapter_path(framework: Framework) -> TokenStream {
    let (module, adapter) = match framework {
        Framework::Axum => ("axum", "jwtguard-axum"),
        Framework::Actix => ("actix", "jwtguard-actix"),
    };
    let direct = match crate_name(adapter) {
        Ok(FoundCrate::Name(name)) => Some(name),
        Ok(FoundCrate::Itself) => Some(adapter.replace('-', "_")),
        Err(_) => None,
    };
    let facade = || match crate_name("jwtguard") {
        Ok(FoundCrate::Itself) => Some("jwtguard".to_owned()),
        Ok(FoundCrate::Name(name)) => Some(name),
        Err(_) => None,
    };
    if let Some(name) = direct {
        let name = Ident::new(&name, Span::call_site());
        return quote!(::#name);
    }
    if let Some(name) = facade() {
        let name = Ident::new(&name, Span::call_site());
        let module = Ident::new(module, Span::call_site());
        return quote!(::#name::#module);
    }
    let name = Ident::new(&adapter.replace('-', "_"), Span::call_site());
    quote!(::#name)
}

//! vtsim-macros: `#[vtsim::test]`, which runs an async test body under many seeds.
#![deny(missing_docs, missing_debug_implementations)]

use proc_macro::TokenStream;
use quote::quote;
use syn::{parse_macro_input, ItemFn};

/// Runs an async test under many seeds, each in a fresh simulation.
///
/// ```ignore
/// #[vtsim::test]                 // 16 seeds unless VTSIM_SEEDS says otherwise
/// async fn ticks() { ... }
///
/// #[vtsim::test(seeds = 64)]
/// async fn ticks_often() -> Result<(), String> { ... }
/// ```
///
/// `VTSIM_SEED=<n>` (decimal or `0x` hex) runs one seed, `VTSIM_SEEDS=<n>` runs seeds `0..n`. A
/// failing seed panics with the seed, the last trace events and the command that replays it.
/// `crate = path` names the runtime crate when it is not `vtsim` (inside vtsim's own crates).
#[proc_macro_attribute]
pub fn test(args: TokenStream, item: TokenStream) -> TokenStream {
    let mut krate: syn::Path = syn::parse_quote!(::vtsim);
    let mut seeds: u64 = 16;
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("crate") {
            krate = meta.value()?.parse()?;
            Ok(())
        } else if meta.path.is_ident("seeds") {
            let lit: syn::LitInt = meta.value()?.parse()?;
            seeds = lit.base10_parse()?;
            Ok(())
        } else {
            Err(meta.error("unknown argument; allowed: seeds = N, crate = path"))
        }
    });
    parse_macro_input!(args with parser);
    let func = parse_macro_input!(item as ItemFn);
    if func.sig.asyncness.is_none() {
        return syn::Error::new_spanned(func.sig.fn_token, "#[vtsim::test] needs an `async fn`")
            .to_compile_error()
            .into();
    }
    let name = &func.sig.ident;
    let attrs = &func.attrs;
    let output = &func.sig.output;
    let body = &func.block;
    quote! {
        #[::core::prelude::v1::test]
        #(#attrs)*
        fn #name() {
            async fn body() #output #body
            fn run() -> ::std::pin::Pin<::std::boxed::Box<dyn ::std::future::Future<Output = ::std::result::Result<(), ::std::string::String>>>> {
                ::std::boxed::Box::pin(async { #krate::__private::TestOutput::into_result(body().await) })
            }
            #krate::__private::run_test(
                #krate::__private::TestInfo {
                    module_path: ::std::module_path!(),
                    name: ::std::stringify!(#name),
                    package: ::std::env!("CARGO_PKG_NAME"),
                    crate_name: ::std::env!("CARGO_CRATE_NAME"),
                    integration: ::std::option_env!("CARGO_TARGET_TMPDIR").is_some(),
                    default_seeds: #seeds,
                },
                run,
            );
        }
    }
    .into()
}

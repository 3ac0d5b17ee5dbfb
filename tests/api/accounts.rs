//! Accounts and characters on both backends.

use crate::support::db::TestDb;
use mnemo::accounts::{self, AccountError, AccountUpdate, NewAccount};

fn new(username: &str) -> NewAccount {
    NewAccount {
        username: username.into(),
        ..NewAccount::default()
    }
}

async fn account_crud_and_pagination(backend: &str) {
    let t = TestDb::migrated(backend).await;
    let a = accounts::create_account(&t.db, &new("alice"))
        .await
        .unwrap();
    assert_eq!(accounts::get_account(&t.db, a.id).await.unwrap(), a);
    let err = accounts::create_account(&t.db, &new("alice"))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            AccountError::Duplicate {
                field: "username",
                ..
            }
        ),
        "{err}"
    );
    let err = accounts::create_account(&t.db, &new(" "))
        .await
        .unwrap_err();
    assert!(matches!(
        err,
        AccountError::Invalid {
            field: "username",
            ..
        }
    ));

    for i in 0..4 {
        accounts::create_account(&t.db, &new(&format!("user{i}")))
            .await
            .unwrap();
    }
    let first = accounts::list_accounts(&t.db, 0, 3).await.unwrap();
    assert_eq!(first.items.len(), 3);
    let after = first.next_after.expect("more pages");
    let second = accounts::list_accounts(&t.db, after, 3).await.unwrap();
    assert_eq!(second.items.len(), 2);
    assert_eq!(second.next_after, None);
    assert!(accounts::list_accounts(&t.db, 0, 0).await.is_err());

    let updated = accounts::update_account(
        &t.db,
        a.id,
        &AccountUpdate {
            wallet_address: Some(Some("rWallet".into())),
            is_superuser: Some(true),
            ..AccountUpdate::default()
        },
    )
    .await
    .unwrap();
    assert_eq!(updated.wallet_address.as_deref(), Some("rWallet"));
    assert!(updated.is_superuser);
    assert_eq!(updated.username, "alice");

    let c = accounts::create_character(&t.db, a.id, "Aldric")
        .await
        .unwrap();
    assert!(matches!(
        accounts::create_character(&t.db, a.id, "Aldric")
            .await
            .unwrap_err(),
        AccountError::Duplicate { field: "key", .. }
    ));
    assert_eq!(
        accounts::rename_character(&t.db, c.id, "Aldric2")
            .await
            .unwrap()
            .key,
        "Aldric2"
    );
    let listed = accounts::list_characters(&t.db, Some(a.id), 0, 10)
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);

    accounts::delete_account(&t.db, a.id).await.unwrap();
    assert!(matches!(
        accounts::get_account(&t.db, a.id).await.unwrap_err(),
        AccountError::NotFound("account")
    ));
    // Characters go with their account.
    assert!(accounts::get_character(&t.db, c.id).await.is_err());
    assert!(matches!(
        accounts::create_character(&t.db, a.id, "Ghost")
            .await
            .unwrap_err(),
        AccountError::NotFound("account")
    ));
}

on_both_backends!(account_crud_and_pagination);

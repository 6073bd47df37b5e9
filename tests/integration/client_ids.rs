//! Client ids as apps use them (F-LOGIN-CLIENTID, spec/leancloud-im.md §3.1): millisecond
//! timestamps and UUID v4 strings log in and take part in conversations.

use crate::client::*;
use xinshi::protocol::*;

const MILLIS: &str = "1795641565572";
const UUID: &str = "9b2f8e4a-1c3d-4e5f-8a9b-0c1d2e3f4a5b";

#[tokio::test]
async fn f_login_clientid_digits_first() {
    let server = TestServer::start();
    let mut millis = Client::login(&server, MILLIS).await;
    let mut uuid = Client::login(&server, UUID).await;
    let mut alice = Client::login(&server, "alice").await;
    let cid = started_cid(&millis.request(start_conv(&[UUID], false, "{}")).await);
    let joined = uuid.next_push_of(CommandType::Conv).await;
    assert_eq!(joined.op, Some(OpType::Joined as i32));
    assert_eq!(joined.conv_message.unwrap().init_by.as_deref(), Some(MILLIS));

    let added = uuid.request(conv_members(OpType::Add, &cid, &["alice", "42"])).await;
    assert_eq!(added.conv_message.unwrap().allowed_pids, ["alice", "42"]);
    let event = millis.next_push_of(CommandType::Conv).await;
    assert_eq!(event.op, Some(OpType::MembersJoined as i32));
    let mut m = event.conv_message.unwrap().m;
    m.sort();
    assert_eq!(m, ["42", "alice"]);

    acked(&millis.request(direct(&cid, "from a timestamp", None)).await);
    let got = uuid.next_push_of(CommandType::Direct).await.direct_message.unwrap();
    assert_eq!((got.from_peer_id.as_deref(), got.msg.as_deref()), (Some(MILLIS), Some("from a timestamp")));
    assert_eq!(
        alice.next_push_of(CommandType::Direct).await.direct_message.unwrap().from_peer_id.as_deref(),
        Some(MILLIS)
    );
    let online = GenericCommand {
        session_message: Some(SessionCommand { session_peer_ids: vec![UUID.into(), "7".into()], ..Default::default() }),
        ..frame::command(CommandType::Session, Some(OpType::Query))
    };
    let reply = alice.request(online).await;
    assert_eq!(reply.session_message.unwrap().online_session_peer_ids, [UUID]);
    server.stop().await;
}

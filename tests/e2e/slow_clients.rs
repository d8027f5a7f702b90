//! Slowloris: clients that trickle their headers, or open a connection and say nothing, are cut
//! off by the server after `server.header_timeout`, while normal requests keep being answered.
//! (How fast, under 500 such clients, is measured by `scripts/slowloris.sh`, not asserted here.)

use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::spawn_core_with;

#[tokio::test]
async fn slow_and_silent_connections_are_closed_while_normal_requests_are_answered() {
    let mut app = spawn_core_with(|c| c.server.header_timeout = Duration::from_secs(1)).await;
    let addr = app.start_instance().await;
    let mut slow = Vec::new();
    for i in 0..40 {
        let mut s = TcpStream::connect(addr).await.unwrap();
        if i % 2 == 0 {
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .await
                .unwrap();
        }
        slow.push(s);
    }
    let trickle = async {
        for _ in 0..3 {
            tokio::time::sleep(Duration::from_millis(400)).await;
            for s in slow.iter_mut().step_by(2) {
                let _ = s.write_all(b"X").await;
            }
        }
    };
    let normal = async {
        for _ in 0..5 {
            let r = reqwest::get(format!("http://{addr}/healthz"))
                .await
                .unwrap();
            assert_eq!(r.status(), 200);
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    };
    tokio::join!(trickle, normal);
    // Every slow connection is closed by the server: reading ends (EOF or reset), well before the
    // generous bound that only guards the test against hanging.
    for (i, s) in slow.iter_mut().enumerate() {
        let mut buf = [0u8; 1024];
        let closed = tokio::time::timeout(Duration::from_secs(10), async {
            loop {
                match s.read(&mut buf).await {
                    Ok(0) | Err(_) => return,
                    Ok(_) => continue, // hyper may answer 408 before closing
                }
            }
        })
        .await;
        assert!(closed.is_ok(), "slow connection {i} was left open");
    }
}

#[tokio::test]
async fn connections_over_the_cap_wait_instead_of_failing() {
    let mut app = spawn_core_with(|c| {
        c.server.max_connections = 4;
        c.server.header_timeout = Duration::from_secs(1);
    })
    .await;
    let addr = app.start_instance().await;
    let mut idle = Vec::new();
    for _ in 0..4 {
        idle.push(TcpStream::connect(addr).await.unwrap());
    }
    // The fifth waits in the backlog until an idle one is cut off, then is answered.
    let r = reqwest::get(format!("http://{addr}/healthz"))
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    // So by the time it was answered, the server had already closed an idle connection (a closed
    // socket reads EOF at once; the short bound only keeps open ones from blocking the check).
    let mut closed = 0;
    for s in &mut idle {
        let mut buf = [0u8; 64];
        let read = tokio::time::timeout(Duration::from_millis(50), s.read(&mut buf)).await;
        closed += usize::from(matches!(read, Ok(Ok(0)) | Ok(Err(_))));
    }
    assert!(
        closed >= 1,
        "answered while all 4 idle connections held the cap"
    );
}

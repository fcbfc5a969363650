// Echo: for a speaker whose browser cannot cancel echo from any output, the room plays through a
// loopback RTCPeerConnection into an <audio> element, the only playback Chrome's echo canceller hears.

// RoomAudio's methods for the loopback (static/js/audio.js puts them on RoomAudio).
export class AudioEcho {
  setLoopback(on) {
    if (!this.context || !this.analyser) return;
    if (on && !this.loopback) {
      this.loopback = { ready: false };
      this.openLoopback(this.loopback).catch((error) => {
        console.warn("live audio: echo loopback failed; playing directly", error);
        this.closeLoopback();
      });
    } else if (!on && this.loopback) {
      this.closeLoopback();
    }
  }

  async openLoopback(loopback) {
    const destination = this.context.createMediaStreamDestination();
    const sender = new RTCPeerConnection();
    const receiver = new RTCPeerConnection();
    Object.assign(loopback, { destination, sender, receiver, element: new Audio(), blocked: false });
    sender.addEventListener("icecandidate", (e) => e.candidate && receiver.addIceCandidate(e.candidate).catch(() => {}));
    receiver.addEventListener("icecandidate", (e) => e.candidate && sender.addIceCandidate(e.candidate).catch(() => {}));
    const track = new Promise((resolve) => receiver.addEventListener("track", (e) => resolve(e.streams[0] ?? new MediaStream([e.track]))));
    destination.stream.getAudioTracks().forEach((t) => sender.addTrack(t, destination.stream));
    const offer = await sender.createOffer();
    await sender.setLocalDescription(offer);
    await receiver.setRemoteDescription(offer);
    const answer = await receiver.createAnswer();
    await receiver.setLocalDescription(answer);
    await sender.setRemoteDescription(answer);
    const stream = await track;
    if (this.loopback !== loopback) return;
    loopback.element.srcObject = stream;
    try {
      if (!this.paused) await loopback.element.play();
    } catch {
      loopback.blocked = true;
    }
    if (this.loopback !== loopback) return;
    // Switch the output only now, so the room is never silent while the loopback connects.
    this.analyser.disconnect();
    this.analyser.connect(destination);
    loopback.ready = true;
    this.showListenButton();
  }

  closeLoopback() {
    const loopback = this.loopback;
    this.loopback = null;
    if (!loopback) return;
    if (loopback.ready && this.analyser) {
      this.analyser.disconnect();
      this.analyser.connect(this.output);
    }
    loopback.sender?.close();
    loopback.receiver?.close();
    if (loopback.element) loopback.element.srcObject = null;
    this.showListenButton();
  }
}

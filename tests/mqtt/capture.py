#!/usr/bin/env python3
"""capture.py - records the MQTT packets one client sends, for tests/mqtt/golden.h.

    capture.py PORT OUT.hex 4|5 &
    mosquitto_pub -h 127.0.0.1 -p PORT -V mqttv311 ...

Listens on 127.0.0.1:PORT for one connection, splits what arrives into packets by their
fixed header, answers CONNACK (success), PUBACK, SUBACK (granted QoS 1), UNSUBACK and
PINGRESP in the version given (4 or 5), and stops at DISCONNECT, end of stream or 4 s of
silence. Writes one packet per line, in hex. Python 3 standard library.
"""
import socket, sys
port=int(sys.argv[1]); out=sys.argv[2]; v5=sys.argv[3]=='5'
s=socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR,1)
s.bind(('127.0.0.1',port)); s.listen(1)
print('ready',flush=True)
c,_=s.accept(); c.settimeout(4)
buf=b''
def readpkt():
    global buf
    while True:
        if len(buf)>=2:
            mult=1;rl=0;i=1
            while i<len(buf):
                b=buf[i];rl+=(b&127)*mult;mult*=128;i+=1
                if not b&128: break
            else:
                i=None
            if i is not None and len(buf)>=i+rl:
                p=buf[:i+rl]; buf=buf[i+rl:]; return p
        try: d=c.recv(4096)
        except socket.timeout: return None
        if not d: return None
        buf+=d
pkts=[]
while True:
    p=readpkt()
    if p is None: break
    pkts.append(p)
    t=p[0]>>4
    if t==1: c.sendall(b'\x20\x03\x00\x00\x00' if v5 else b'\x20\x02\x00\x00')
    elif t==3 and (p[0]>>1)&3==1:
        # packet id after topic
        i=1
        while p[i]&128: i+=1
        i+=1
        tl=p[i]<<8|p[i+1]; i+=2+tl
        c.sendall(b'\x40\x02'+p[i:i+2])
    elif t==8:
        pid=p[2:4] if p[1]<128 else p[3:5]
        c.sendall((b'\x90\x04'+pid+b'\x00\x01') if v5 else (b'\x90\x03'+pid+b'\x01'))
    elif t==10:
        pid=p[2:4]
        c.sendall((b'\xb0\x04'+pid+b'\x00\x00') if v5 else (b'\xb0\x02'+pid))
    elif t==12: c.sendall(b'\xd0\x00')
    elif t==14: break
open(out,'w').write('\n'.join(x.hex() for x in pkts)+'\n')

package call

import (
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/pion/transport/v5"
	"github.com/pion/transport/v5/stdnet"

	"github.com/callstat/callstat/pkg/netem"
)

// interfacesMaxAge is how long a phone trusts its list of network
// interfaces before it reads it again.
const interfacesMaxAge = 10 * time.Second

// phoneNet is the network pion's ICE agents use: the standard one, with
// the list of interfaces read at most every interfacesMaxAge and shared by
// every PeerConnection of the phone. By default each agent reads the list
// itself, with several netlink dumps, when it gathers: at hundreds of calls
// that was a fifth of everything the process allocated, and time taken
// from each call's setup.
type phoneNet struct {
	*stdnet.Net

	mu   sync.Mutex
	list []*transport.Interface
	at   time.Time
}

func newPhoneNet() (*phoneNet, error) {
	n, err := stdnet.NewNet()
	if err != nil {
		return nil, fmt.Errorf("call: network interfaces: %w", err)
	}
	list, _ := n.Interfaces()
	return &phoneNet{Net: n, list: list, at: time.Now()}, nil
}

// Interfaces returns the interfaces, read again when the list is old. A
// failed read keeps the old list.
func (n *phoneNet) Interfaces() ([]*transport.Interface, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if time.Since(n.at) > interfacesMaxAge {
		if fresh, err := stdnet.NewNet(); err == nil {
			n.list, _ = fresh.Interfaces()
		}
		n.at = time.Now()
	}
	return n.list, nil
}

// InterfaceByIndex looks index up in the list.
func (n *phoneNet) InterfaceByIndex(index int) (*transport.Interface, error) {
	list, _ := n.Interfaces()
	for _, ifc := range list {
		if ifc.Index == index {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: index %d", transport.ErrInterfaceNotFound, index)
}

// InterfaceByName looks name up in the list.
func (n *phoneNet) InterfaceByName(name string) (*transport.Interface, error) {
	list, _ := n.Interfaces()
	for _, ifc := range list {
		if ifc.Name == name {
			return ifc, nil
		}
	}
	return nil, fmt.Errorf("%w: %s", transport.ErrInterfaceNotFound, name)
}

// isLoopback reports whether the interface called name is a loopback one.
func (n *phoneNet) isLoopback(name string) bool {
	ifc, err := n.InterfaceByName(name)
	return err == nil && ifc.Flags&net.FlagLoopback != 0
}

// isLocalIP reports whether ip is an address of one of the host's
// interfaces.
func (n *phoneNet) isLocalIP(ip net.IP) bool {
	list, _ := n.Interfaces()
	for _, ifc := range list {
		addrs, err := ifc.Addrs()
		if err != nil {
			continue
		}
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && ipn.IP.Equal(ip) {
				return true
			}
		}
	}
	return false
}

// under is the network with em's conditions on every UDP socket it opens
// (n itself when em is nil).
func (n *phoneNet) under(em *netem.Emulator) transport.Net {
	if em == nil {
		return n
	}
	return em.Wrap(n)
}
